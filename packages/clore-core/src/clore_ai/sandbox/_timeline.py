"""The part of a sandbox store every account shares: the time line, the market setting,
what tests forced on the market (a server taken, offline, a competing spot bid) and, after a
reset, the order id new accounts count from (``next_order_id``).

It lives next to the accounts under the key ``"_market"`` (account keys are hex
fingerprints, so they never collide) and is written only when something is set: a still,
1x sandbox stores nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._market import MarketMotion

__all__ = ["MARKET_KEY", "SharedMarket", "virtual_now", "stored_motion", "stored_speed"]

MARKET_KEY = "_market"
LISTED_KINDS = ("taken", "offline")  # what the marketplace shows
FORCED_KINDS = (*LISTED_KINDS, "race")


def section_of(accounts: dict[str, Any], *, create: bool = False) -> dict[str, Any]:
    section = accounts.get(MARKET_KEY)
    if section is None:
        section = {}
        if create:
            accounts[MARKET_KEY] = section
    return section


def stored_motion(accounts: dict[str, Any]) -> MarketMotion | None:
    data = section_of(accounts).get("settings", {}).get("motion")
    return MarketMotion.from_json(data) if isinstance(data, dict) else None


def stored_speed(accounts: dict[str, Any]) -> float:
    return float(section_of(accounts).get("settings", {}).get("speed", 1.0))


def virtual_now(accounts: dict[str, Any], wall: float, speed: float | None) -> float:
    """The sandbox's time: ``wall`` at 1x; otherwise one time line anchored in the store.

    The anchor (wall time, virtual time, speed) is written the first time the speed is not
    1, and moved whenever another speed is asked for, so time never jumps or runs backwards
    when processes with different speeds share one state file.
    """
    wanted = speed if speed is not None else stored_speed(accounts)
    timeline = section_of(accounts).get("timeline")
    if timeline is None:
        if wanted == 1.0:
            return wall
        section_of(accounts, create=True)["timeline"] = {"wall": wall, "at": wall, "speed": wanted}
        return wall
    at = float(timeline["at"]) + (wall - float(timeline["wall"])) * float(timeline["speed"])
    if wanted != float(timeline["speed"]):
        section_of(accounts, create=True)["timeline"] = {"wall": wall, "at": at, "speed": wanted}
    return at


@dataclass
class SharedMarket:
    """The shared section as one request sees it at virtual time ``now``."""

    section: dict[str, Any]
    motion: MarketMotion | None
    now: float

    def forced(self, kind: str, server_id: int) -> bool:
        marks = self.section.get(kind) or {}
        if str(server_id) not in marks:
            return False
        until = marks[str(server_id)]
        return until is None or self.now < float(until)

    def lose_race(self, server_id: int) -> bool:
        """Whether another renter was set to win the race for ``server_id`` (then it is taken
        from now on, for as long as that was set for)."""
        races = self.section.get("race") or {}
        if str(server_id) not in races:
            return False
        seconds = races.pop(str(server_id))
        until = None if seconds is None else self.now + float(seconds)
        self.section.setdefault("taken", {})[str(server_id)] = until
        return True

    def forced_ids(self, kind: str) -> list[int]:
        return sorted(int(i) for i in (self.section.get(kind) or {}) if self.forced(kind, int(i)))

    def forced_bids(self, server_id: int) -> list[dict[str, Any]]:
        offers = []
        for offer_id, bid in sorted((self.section.get("bids") or {}).items()):
            until = bid.get("until")
            if bid["server"] == server_id and (until is None or self.now < float(until)):
                offers.append(
                    {
                        "offer_id": int(offer_id),
                        "bid": bid["bid"],
                        "active": False,
                        "my": False,
                        "currency": bid["currency"],
                    }
                )
        return offers

    def signature(self) -> list[Any]:
        """What makes marketplace bodies differ, besides the accounts' own changes."""
        epoch = self.motion.epoch(self.now) if self.motion is not None else None
        return [self.motion.to_json() if self.motion else None, epoch, *map(self.forced_ids, LISTED_KINDS)]
