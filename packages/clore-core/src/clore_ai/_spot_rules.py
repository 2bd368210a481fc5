"""What the API has said about lowering a spot order's bid, kept across processes.

The API lets a bid be lowered once per 600 s, by at most ``max_step`` (both learnt from its
code 6 answers, or from a lowering the keeper made). A keeper that starts again - ``clore
spot-bid --auto --once`` from cron every minute, or a dry run after a real run - would
otherwise forget both and plan a lowering the API is bound to refuse. So each keeper writes
them here, per order, and reads them when it starts.

One small JSON file per key in the user cache dir, locked and written atomically with mode
0600 (:class:`~clore_ai._locked_journal.LockedJournal`); entries hold no secrets. The wait is
kept twice: as a time of the keeper's clock, and as seconds left at a wall-clock moment. The
next keeper waits the shorter of the two: a sandbox's clock can jump ahead (``clore sandbox
advance``), or start over after ``clore sandbox reset``, which reuses order ids, and neither
must block a lowering for long. Every entry is forgotten an hour after its last change: the
API's lowering period is 600 s, and a ``max_step`` is cheap to learn again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ._limiter import key_state_path
from ._locked_journal import LockedJournal

__all__ = ["SpotRules", "SpotRulesJournal", "spot_rules_for_key"]

KEEP_FOR = 3600.0


@dataclass
class SpotRules:
    """One order: ``wait_left`` seconds before a lowering, as of ``updated_at`` (wall clock),
    and ``max_step`` (per day, in the order's coin)."""

    token: str  # the order id
    wait_left: float | None = None
    max_step: float | None = None
    updated_at: float = 0.0
    lower_after: float | None = None  # the same moment on the keeper's clock

    @classmethod
    def from_json(cls, token: str, data: Any) -> SpotRules | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                token=token,
                wait_left=_number(data.get("wait_left")),
                max_step=_number(data.get("max_step")),
                updated_at=float(data.get("updated_at", 0.0)),
                lower_after=_number(data.get("lower_after")),
            )
        except (TypeError, ValueError):
            return None

    def waiting_at(self, now: float, keeper_now: float) -> float:
        """Seconds still to wait before a lowering (0 when none): the shorter of what is left
        on the wall clock (``now``) and on the keeper's clock (``keeper_now``)."""
        if self.wait_left is None:
            return 0.0
        left = self.wait_left - max(0.0, now - self.updated_at)
        if self.lower_after is not None:
            left = min(left, self.lower_after - keeper_now)
        return max(0.0, left)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["token"]
        return data


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class SpotRulesJournal(LockedJournal[SpotRules]):
    """The lowering rules of one key's spot orders. ``path=None`` keeps them in memory."""

    section = "orders"

    def _read_entry(self, token: str, data: Any) -> SpotRules | None:
        return SpotRules.from_json(token, data)

    def _prune(self, entries: dict[str, SpotRules]) -> None:
        now = self.clock()  # wall time (the keepers' clocks may be a sandbox's)
        for token, rules in list(entries.items()):
            if now - rules.updated_at > KEEP_FOR:
                del entries[token]

    def get(self, order_id: int) -> SpotRules | None:
        return self._change(lambda entries: entries.get(str(order_id)))

    def waiting(self, order_id: int, keeper_now: float) -> tuple[float, float | None]:
        """(seconds still to wait before a lowering, the API's max_step) of ``order_id``."""
        rules = self.get(order_id)
        if rules is None:
            return 0.0, None
        return rules.waiting_at(self.clock(), keeper_now), rules.max_step

    def put(
        self, order_id: int, *, lower_after: float | None, keeper_now: float, max_step: float | None
    ) -> None:
        left = None if lower_after is None else max(0.0, lower_after - keeper_now)
        rules = SpotRules(str(order_id), left, max_step, self.clock(), lower_after)

        def store(entries: dict[str, SpotRules]) -> None:
            entries[rules.token] = rules

        self._change(store)


def spot_rules_for_key(api_key: str | None) -> SpotRulesJournal:
    """The spot rules of this key, shared by every keeper of this user."""
    path = key_state_path("spot", api_key)
    return SpotRulesJournal.shared(path)
