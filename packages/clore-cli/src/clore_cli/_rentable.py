"""What ``deploy`` can rent: GigaSPOT servers and the currencies a server accepts (``allowed_coins``)."""

from __future__ import annotations

from typing import Any

from .formats import COIN_SHORT, coin_amount

__all__ = ["COIN_SHORT", "coin_amount", "coin_names", "not_rentable", "on_gigaspot"]


def coin_names(coins: Any) -> str:
    """``["USD-Blockchain", "bitcoin"]`` -> ``"usd btc"`` (the names --currency accepts)."""
    return " ".join(COIN_SHORT.get(c, str(c)) for c in coins or []) or "none"


def on_gigaspot(server: Any) -> bool:
    """The server is on GigaSPOT: create_order refuses it (``machine-is-on-gigaspot``)."""
    from clore_ai.query import on_gigaspot as sdk_on_gigaspot  # a server exists: clore_ai is loaded

    return sdk_on_gigaspot(server)


def not_rentable(server: Any, currency: str | None = None, *, on_demand: bool = False) -> str | None:
    """Why ``deploy`` cannot rent ``server`` (in ``currency``; ``on_demand``: as it is now,
    for an on-demand order), or None when it can."""
    from clore_ai.query import not_rentable as sdk_not_rentable

    return sdk_not_rentable(server, currency, on_demand=on_demand)
