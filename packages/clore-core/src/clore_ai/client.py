"""``from clore_ai.client import CloreAI`` as with clore-ai 0.1.1: the same clients."""

from __future__ import annotations

from ._client import AsyncCloreAI, CloreAI
from ._limiter import RateLimiter

__all__ = ["AsyncCloreAI", "CloreAI", "RateLimiter"]
