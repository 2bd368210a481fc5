"""An offline, stateful Clore.ai API for tests, demos and trying scripts without money.

Three ways to run it:

* in-process: ``CloreAI(transport=SandboxTransport(Sandbox()))`` (sync and async);
* a loopback server: ``python -m clore_ai.sandbox --port 8765`` then
  ``CLORE_API_URL=http://127.0.0.1:8765/v1``;
* persisted: ``Sandbox(state_file=...)`` keeps accounts in a locked file shared by processes
  (what ``clore --sandbox`` uses).

A market that moves (other renters, drifting prices, competing spot bids) in virtual time:
``Sandbox(clock=VirtualClock(), market=MarketMotion(seed=7))``; ``sandbox.advance(600)``.

Any API key is a valid account with the same starting state, except keys starting with
``invalid`` (code 3). See docs/sandbox.md.
"""

from ._api import RateLimits, RequestRecord, Sandbox, SandboxResponse
from ._catalogue import RATES
from ._faults import FAULT_KINDS, Fault, FaultPlan
from ._market import DEFAULT_VIRTUAL_START, MarketMotion, VirtualClock, market_from_text, speed_from_text
from ._server import SandboxServer
from ._store import FileStore, MemoryStore, default_state_path
from ._transport import SandboxTransport

__all__ = [
    "DEFAULT_VIRTUAL_START",
    "FAULT_KINDS",
    "RATES",
    "Fault",
    "FaultPlan",
    "FileStore",
    "MarketMotion",
    "MemoryStore",
    "RateLimits",
    "RequestRecord",
    "Sandbox",
    "SandboxResponse",
    "SandboxServer",
    "SandboxTransport",
    "VirtualClock",
    "default_state_path",
    "market_from_text",
    "speed_from_text",
]
