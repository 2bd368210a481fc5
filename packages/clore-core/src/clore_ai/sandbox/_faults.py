"""Fault injection: make the sandbox misbehave on purpose, per endpoint.

Each fault fires ``times`` times on requests to ``endpoint`` (``"*"`` matches all), then
disappears. ``execute`` says whether the request takes effect before the fault shows —
``drop_after`` on create_order creates the order and then loses the answer, and
``rate_limit_after`` creates it and answers 429: cases the SDK must never answer with a
second order.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["FAULT_KINDS", "Fault", "FaultPlan"]

# kind -> whether the request is executed by default
FAULT_KINDS = {
    "latency": True,  # only adds `latency` seconds
    "drop_before": False,  # connection refused/reset before the request arrives
    "drop_after": True,  # executed, then the connection drops without an answer
    "timeout_after": True,  # executed, then the client's read times out
    "html_5xx": True,  # a proxy error page (HTML) instead of JSON
    "truncated_json": True,  # the real body cut in half
    "invalid_json": True,  # a body that is not JSON at all
    "rate_limit": False,  # HTTP 429 {"code":5} with an optional Retry-After
    "rate_limit_after": True,  # executed, then a proxy or the API answers 429 anyway
}


@dataclass
class Fault:
    kind: str
    endpoint: str = "*"
    times: int = 1
    latency: float = 0.0
    status: int = 502
    retry_after: float | None = None
    execute: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if self.execute is None:
            self.execute = FAULT_KINDS[self.kind]


class FaultPlan:
    """The faults waiting to fire. Thread-safe."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.fired: list[tuple[str, str]] = []  # (endpoint, kind), for tests

    def inject(self, endpoint: str, kind: str, **options: object) -> Fault:
        fault = Fault(kind, endpoint, **options)  # type: ignore[arg-type]
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint in ("*", endpoint):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    self.fired.append((endpoint, fault.kind))
                    return fault
        return None
