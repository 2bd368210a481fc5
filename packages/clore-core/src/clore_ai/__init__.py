"""clore_ai: the Python SDK for the Clore.ai GPU marketplace.

>>> from clore_ai import CloreAI
>>> client = CloreAI()                      # key from CLORE_API_KEY / keyring / config file
>>> servers = client.marketplace(gpu="RTX 4090", max_price_usd=0.5)   # USD per hour

The exceptions are imported at once; every other name on its first use (PEP 562), so
``import clore_ai`` alone loads neither httpx nor pydantic (``from clore_ai import CloreAI``
loads what the client needs). Type checkers read the plain imports under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List

from ._version import __version__
from .exceptions import (
    APICertificateError,
    APIConnectionError,
    APITimeoutError,
    AuthError,
    CloreAPIError,
    CloreError,
    CredentialsError,
    DBError,
    FieldError,
    InvalidEndpointError,
    InvalidInputError,
    InvalidResponseError,
    KeyringUnavailableError,
    MissingAPIKeyError,
    OrderOutcomeUnknown,
    OrderOwnerUnknown,
    OrderPendingError,
    OrderRateLimited,
    RateLimitError,
    RateLimitQueueTimeout,
    ResponseTooLargeError,
    UnknownAPIError,
)

if TYPE_CHECKING:
    from ._client import AsyncCloreAI, CloreAI
    from ._core import DEFAULT_BASE_URL
    from ._limiter import RateLimiter
    from ._validation import (
        CURRENCIES,
        build_create_order_body,
        build_server_settings_body,
        normalize_currency,
        redacted_order_body,
    )
    from .models import (
        HOURS_PER_DAY,
        CancelOrdersResult,
        GigaSpotCreateResult,
        GigaSpotEditResult,
        GigaSpotInfo,
        MarketplaceServer,
        MyServer,
        NetSpecs,
        Order,
        PoHBalance,
        RenterFees,
        ServerConfig,
        ServerPrice,
        ServerRating,
        ServerSpecs,
        SpotMarket,
        SpotOffer,
        SpotServerInfo,
        UsdPrice,
        Wallet,
    )
    from .renting import NoOfferError, RentResult, arent, plan_rent, rent

    #: clore-ai 0.1.1's name for :class:`MarketplaceServer`.
    Server = MarketplaceServer

# name -> (module, its name there): what ``from clore_ai import X`` loads on first use.
_LAZY: Dict[str, tuple[str, str]] = {
    **{name: ("._client", name) for name in ("AsyncCloreAI", "CloreAI")},
    "DEFAULT_BASE_URL": ("._core", "DEFAULT_BASE_URL"),
    "RateLimiter": ("._limiter", "RateLimiter"),
    **{
        name: ("._validation", name)
        for name in (
            "CURRENCIES",
            "build_create_order_body",
            "build_server_settings_body",
            "normalize_currency",
            "redacted_order_body",
        )
    },
    **{
        name: (".models", name)
        for name in (
            "HOURS_PER_DAY",
            "CancelOrdersResult",
            "GigaSpotCreateResult",
            "GigaSpotEditResult",
            "GigaSpotInfo",
            "MarketplaceServer",
            "MyServer",
            "NetSpecs",
            "Order",
            "PoHBalance",
            "RenterFees",
            "ServerConfig",
            "ServerPrice",
            "ServerRating",
            "ServerSpecs",
            "SpotMarket",
            "SpotOffer",
            "SpotServerInfo",
            "UsdPrice",
            "Wallet",
        )
    },
    "Server": (".models", "MarketplaceServer"),  # clore-ai 0.1.1's name for MarketplaceServer
    **{name: (".renting", name) for name in ("NoOfferError", "RentResult", "arent", "plan_rent", "rent")},
}
_SUBMODULES = frozenset(
    {
        "cli",
        "client",
        "credentials",
        "exceptions",
        "guard",
        "jobs",
        "models",
        "query",
        "remote",
        "renting",
        "repricing",
        "sandbox",
        "spending",
        "spotbid",
        "watch",
    }
)


def __getattr__(name: str) -> Any:
    """Import a public name (or a submodule read as an attribute) on first use."""
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module, __name__), attribute)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # once: later reads are plain module attributes
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "APICertificateError",
    "AsyncCloreAI",
    "AuthError",
    "CURRENCIES",
    "CancelOrdersResult",
    "GigaSpotCreateResult",
    "GigaSpotEditResult",
    "GigaSpotInfo",
    "CloreAI",
    "CloreAPIError",
    "CloreError",
    "CredentialsError",
    "KeyringUnavailableError",
    "DBError",
    "DEFAULT_BASE_URL",
    "FieldError",
    "HOURS_PER_DAY",
    "InvalidEndpointError",
    "InvalidInputError",
    "InvalidResponseError",
    "MarketplaceServer",
    "Server",
    "MissingAPIKeyError",
    "MyServer",
    "NetSpecs",
    "Order",
    "OrderOutcomeUnknown",
    "OrderOwnerUnknown",
    "OrderPendingError",
    "OrderRateLimited",
    "PoHBalance",
    "RateLimitError",
    "RateLimitQueueTimeout",
    "RateLimiter",
    "RenterFees",
    "ResponseTooLargeError",
    "ServerConfig",
    "ServerPrice",
    "ServerRating",
    "ServerSpecs",
    "SpotMarket",
    "SpotOffer",
    "SpotServerInfo",
    "UnknownAPIError",
    "UsdPrice",
    "Wallet",
    "__version__",
    "build_create_order_body",
    "build_server_settings_body",
    "normalize_currency",
    "NoOfferError",
    "RentResult",
    "arent",
    "plan_rent",
    "rent",
    "redacted_order_body",
]
