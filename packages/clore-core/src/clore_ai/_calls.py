"""Client calls as data: one flow of :class:`Call` steps, driven by a sync or an async client.

Watch and the spot keeper describe what they read and write as a generator that yields
``Call("spot_marketplace", 6)`` and receives the answer (or has the client's exception thrown
into it). :func:`drive` runs such a flow on :class:`~clore_ai.CloreAI`, :func:`adrive` on
:class:`~clore_ai.AsyncCloreAI`: the decisions exist once, whatever the client.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Call", "CallFlow", "adrive", "drive"]

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """``client.<method>(*args, **kwargs)``, as a value."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


CallFlow = Generator[Call, Any, T]


def drive(flow: CallFlow[T], client: Any) -> T:
    """Run ``flow`` on a synchronous client; its return value."""
    try:
        step = next(flow)
        while True:
            try:
                answer = getattr(client, step.method)(*step.args, **step.kwargs)
            except Exception as error:  # noqa: BLE001 - the flow decides what an error means
                step = flow.throw(error)
            else:
                step = flow.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def adrive(flow: CallFlow[T], client: Any) -> T:
    """Run ``flow`` on an asynchronous client; its return value."""
    try:
        step = next(flow)
        while True:
            try:
                answer = await getattr(client, step.method)(*step.args, **step.kwargs)
            except Exception as error:  # noqa: BLE001 - the flow decides what an error means
                step = flow.throw(error)
            else:
                step = flow.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
