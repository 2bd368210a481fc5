"""What ``deploy`` can rent: GigaSPOT servers and the currencies a server accepts (``allowed_coins``)."""

from __future__ import annotations

from typing import Any

__all__ = ["COIN_SHORT", "coin_amount", "coin_names", "not_rentable", "on_gigaspot"]

COIN_SHORT = {"bitcoin": "btc", "CLORE-Blockchain": "clore", "USD-Blockchain": "usd"}


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


def coin_amount(value: Any, currency: str | None) -> str:
    """A coin amount for people: ``0.00003117 btc``, ``924.04 clore``, ``$1.25`` (never ``3e-05``)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "unknown"
    short = COIN_SHORT.get(currency or "", currency or "")
    if short == "usd":
        return f"${value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"${value:.6f}".rstrip("0")
    digits = 8 if short == "btc" else 2 if abs(value) >= 1 else 6
    text = f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    return f"{text or '0'} {short}".strip()
