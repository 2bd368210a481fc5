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
    flag = getattr(server, "on_gigaspot", None)
    if isinstance(flag, bool):
        return flag
    return bool(server.gigaspot)


def not_rentable(server: Any, currency: str | None = None) -> str | None:
    """Why ``deploy`` cannot rent ``server`` (in ``currency``), or None when it can."""
    if on_gigaspot(server):
        return "on GigaSPOT"
    if currency and currency not in (server.allowed_coins or []):
        return f"does not take {COIN_SHORT.get(currency, currency)}"
    return None
