"""A sandbox market that moves: other renters, drifting prices, competing spot bids.

Everything here is a pure function of ``(seed, virtual time, server)``: the time line is cut
into *epochs* (``epoch_seconds``, 5 virtual minutes by default) and every server draws its
state for an epoch from a hash of the seed, its id and a block number. Two processes that read
the same state file at the same virtual time therefore see the same market, and nothing about
the motion is stored (the state file does not grow).

* **Other renters** take a server for a block of 2–24 epochs (its own length and phase) with
  probability ``rented_share``, then maybe free it at the next block.
* **Offline**: a server is offline for a block of ``offline_epochs`` with ``offline_share``.
* **Prices** drift smoothly (linear between a random target every ``price_epochs``) within
  ``±price_swing`` of the catalogue's price; on-demand, spot minimums, every currency and the
  ``usd`` block move by the same factor, so they stay consistent.
* **Competing spot bids**: two bidder slots per server; each is present for a block of
  ``bid_epochs`` with probability ``bid_share`` and bids ``minimum × (1 + premium)`` with the
  premium in ``bid_premium``. A bid at the minimum is therefore outbid about half of the time;
  a bid above ``minimum × (1 + bid_premium[1])`` always wins.

The fixture servers (123, 6, 5738) are never taken nor offline (their prices drift and spot
bids arrive on them like on any other server), so the documentation examples keep working.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DEFAULT_VIRTUAL_START", "MarketMotion", "VirtualClock", "market_from_text", "speed_from_text"]

#: Where a :class:`VirtualClock` starts by default: 2026-01-01 00:00 UTC.
DEFAULT_VIRTUAL_START = 1_767_225_600.0
_FIXTURE_IDS = (123, 6, 5738)


class VirtualClock:
    """Virtual seconds for tests: ``clock()`` reads, ``clock.advance(s)`` moves time, and
    ``clock.sleep``/``clock.async_sleep`` move it instead of waiting (pass them to a client)."""

    def __init__(self, start: float = DEFAULT_VIRTUAL_START) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move ``seconds`` forward (never back); the new time."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("a virtual clock only moves forward")
        self.now += seconds
        return self.now

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


@functools.lru_cache(maxsize=1 << 17)
def _unit(seed: int, *parts: object) -> float:
    """A uniform number in [0, 1) from the seed and ``parts`` (stable across processes).

    Cached: a server's phases never change and its blocks last several epochs, so most draws
    of the next epoch were made for the previous one."""
    text = ":".join(str(p) for p in (seed, *parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") / 2.0**64


def _round_coin(currency: str, value: float) -> float:
    return round(value, 8) if currency == "bitcoin" else round(value, 2)


@dataclass(frozen=True)
class MarketMotion:
    """How the sandbox market moves (``Sandbox(market=MarketMotion(seed=7))``)."""

    seed: int = 0
    epoch_seconds: float = 300.0
    rented_share: float = 0.3
    rental_epochs: tuple[int, int] = (2, 24)
    offline_share: float = 0.03
    offline_epochs: int = 6
    price_swing: float = 0.2
    price_epochs: int = 12
    bid_share: float = 0.35
    bid_epochs: int = 3
    bid_premium: tuple[float, float] = (0.05, 0.3)
    still_servers: frozenset[int] = field(default_factory=lambda: frozenset(_FIXTURE_IDS))

    def __post_init__(self) -> None:
        shares = (self.rented_share, self.offline_share, self.bid_share)
        if not all(0.0 <= s <= 1.0 for s in shares):
            raise ValueError("rented_share, offline_share and bid_share must be between 0 and 1")
        if not (math.isfinite(self.epoch_seconds) and self.epoch_seconds > 0):
            raise ValueError("epoch_seconds must be a positive number")
        low, high = self.rental_epochs
        if not 1 <= low <= high:
            raise ValueError("rental_epochs must be (shortest, longest) with 1 <= shortest <= longest")
        if self.offline_epochs < 1 or self.price_epochs < 1 or self.bid_epochs < 1:
            raise ValueError("offline_epochs, price_epochs and bid_epochs must be at least 1")
        if not 0.0 <= self.price_swing < 1.0:
            raise ValueError("price_swing must be at least 0 and below 1")
        if not 0.0 <= self.bid_premium[0] <= self.bid_premium[1]:
            raise ValueError("bid_premium must be (lowest, highest) with 0 <= lowest <= highest")

    # ── (de)serialising the setting kept in a state file ──────────────────

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rental_epochs"] = list(self.rental_epochs)
        data["bid_premium"] = list(self.bid_premium)
        data["still_servers"] = sorted(self.still_servers)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MarketMotion:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("rental_epochs", "bid_premium"):
            if name in known:
                known[name] = tuple(known[name])
        if "still_servers" in known:
            known["still_servers"] = frozenset(int(i) for i in known["still_servers"])
        return cls(**known)

    # ── the market at a virtual time ──────────────────────────────────────

    def epoch(self, at: float) -> int:
        """The epoch number of virtual time ``at`` (the market changes only between epochs)."""
        return math.floor(at / self.epoch_seconds)

    def epoch_start(self, epoch: int) -> float:
        return epoch * self.epoch_seconds

    def taken(self, server_id: int, at: float) -> bool:
        """Whether another renter holds ``server_id`` at ``at``."""
        return self.taken_in_epoch(server_id, self.epoch(at))

    def taken_in_epoch(self, server_id: int, epoch: int) -> bool:
        if server_id in self.still_servers or self.rented_share <= 0:
            return False
        low, high = self.rental_epochs
        span = low + math.floor(_unit(self.seed, server_id, "span") * (high - low + 1))
        phase = math.floor(_unit(self.seed, server_id, "phase") * span)
        block = (epoch + phase) // span
        return _unit(self.seed, server_id, "taken", block) < self.rented_share

    def offline(self, server_id: int, at: float) -> bool:
        return self.offline_in_epoch(server_id, self.epoch(at))

    def offline_in_epoch(self, server_id: int, epoch: int) -> bool:
        if server_id in self.still_servers or self.offline_share <= 0:
            return False
        phase = math.floor(_unit(self.seed, server_id, "offline-phase") * self.offline_epochs)
        block = (epoch + phase) // self.offline_epochs
        return _unit(self.seed, server_id, "offline", block) < self.offline_share

    def price_factor(self, server_id: int, at: float) -> float:
        """What the catalogue prices of ``server_id`` are multiplied by at ``at``."""
        return self.price_factor_in_epoch(server_id, self.epoch(at))

    def price_factor_in_epoch(self, server_id: int, epoch: int) -> float:
        if self.price_swing <= 0:
            return 1.0
        span = self.price_epochs
        shifted = epoch + math.floor(_unit(self.seed, server_id, "price-phase") * span)
        block, step = divmod(shifted, span)
        start = 2.0 * _unit(self.seed, server_id, "price", block) - 1.0
        end = 2.0 * _unit(self.seed, server_id, "price", block + 1) - 1.0
        position = start + (end - start) * step / span
        return 1.0 + self.price_swing * position

    def competing_bids(self, server_id: int, at: float, minimums: dict[str, float]) -> list[dict[str, Any]]:
        """Other users' spot bids on ``server_id`` at ``at`` (``minimums``: the server's
        minimum spot price per currency at that time); at most two."""
        epoch = self.epoch(at)
        coins = sorted(c for c, v in minimums.items() if v and v > 0)
        if not coins or self.bid_share <= 0:
            return []
        offers = []
        for slot in (0, 1):
            phase = math.floor(_unit(self.seed, server_id, "bid-phase", slot) * self.bid_epochs)
            block = (epoch + phase) // self.bid_epochs
            if _unit(self.seed, server_id, "bid", slot, block) >= self.bid_share:
                continue
            currency = coins[math.floor(_unit(self.seed, server_id, "bid-coin", slot, block) * len(coins))]
            low, high = self.bid_premium
            premium = low + (high - low) * _unit(self.seed, server_id, "bid-premium", slot, block)
            bid = _round_coin(currency, minimums[currency] * (1.0 + premium))
            offer_id = 600_000 + math.floor(_unit(self.seed, server_id, "bid-id", slot, block) * 399_999)
            offers.append(
                {"offer_id": offer_id, "bid": bid, "active": False, "my": False, "currency": currency}
            )
        return offers


def moved_price(price: dict[str, Any], factor: float) -> dict[str, Any]:
    """A marketplace ``price`` block with every price multiplied by ``factor``."""
    if factor == 1.0:
        return price
    moved: dict[str, Any] = {}
    for kind, values in price.items():
        if not isinstance(values, dict):
            moved[kind] = values
        elif kind == "usd":
            moved[kind] = {k: round(v * factor, 4) if v else v for k, v in values.items()}
        else:
            moved[kind] = {c: _round_coin(c, v * factor) if v else v for c, v in values.items()}
    return moved


def market_from_text(text: str) -> MarketMotion | None:
    """``"moving"`` or ``"moving:SEED"`` → a :class:`MarketMotion`; ``"still"`` → None.

    The spelling of ``CLORE_SANDBOX_MARKET``, ``python -m clore_ai.sandbox --market`` and
    ``clore sandbox market``; anything else is a ValueError naming the choices.
    """
    word, _, seed = text.strip().lower().partition(":")
    if word == "still" and not seed:
        return None
    if word == "moving":
        if not seed:
            return MarketMotion()
        if re.fullmatch(r"-?[0-9]{1,18}", seed):  # ASCII: "١" is a digit to int()
            return MarketMotion(seed=int(seed))
    raise ValueError(f"market must be 'still', 'moving' or 'moving:SEED' (SEED an integer), not {text!r}")


def speed_from_text(text: str) -> float:
    """``"60"`` → 60.0: how many sandbox seconds pass per real second (a positive number)."""
    try:
        speed = float(text) if text.isascii() else math.nan  # float("١٠") is 10.0
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and 0 < speed <= 1_000_000):
        raise ValueError(f"speed must be a number above 0 and at most 1000000, not {text!r}")
    return speed
