"""What the API has said about lowering a spot order's bid, kept across processes.

The API lets a bid be lowered once per 600 s, by at most ``max_step`` (both learnt from its
code 6 answers, or from a lowering the keeper made). A keeper that starts again - ``clore
spot-bid --auto --once`` from cron every minute, or a dry run after a real run - would
otherwise forget both and plan a lowering the API is bound to refuse. So each keeper writes
them here, per order, and reads them when it starts.

One small JSON file per key in the user cache dir, locked and written atomically with mode
0600 (:class:`~clore_ai._locked_journal.LockedJournal`); entries hold no secrets and are
forgotten a month after their last change.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from ._limiter import key_fingerprint, shared_state_dir
from ._locked_journal import LockedJournal

__all__ = ["SpotRules", "SpotRulesJournal", "spot_rules_for_key"]

KEEP_FOR = 30 * 86400.0


@dataclass
class SpotRules:
    """One order: ``lower_after`` (keeper clock seconds) and ``max_step`` (per day, order coin)."""

    token: str  # the order id
    lower_after: float | None = None
    max_step: float | None = None
    updated_at: float = 0.0

    @classmethod
    def from_json(cls, token: str, data: Any) -> SpotRules | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                token=token,
                lower_after=_number(data.get("lower_after")),
                max_step=_number(data.get("max_step")),
                updated_at=float(data.get("updated_at", 0.0)),
            )
        except (TypeError, ValueError):
            return None

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
        now = time.time()  # wall time: the keepers' clocks may be a sandbox's
        for token, rules in list(entries.items()):
            if now - rules.updated_at > KEEP_FOR:
                del entries[token]

    def get(self, order_id: int) -> SpotRules | None:
        return self._change(lambda entries: entries.get(str(order_id)))

    def put(self, order_id: int, *, lower_after: float | None, max_step: float | None) -> None:
        rules = SpotRules(str(order_id), lower_after, max_step, time.time())

        def store(entries: dict[str, SpotRules]) -> None:
            entries[rules.token] = rules

        self._change(store)


def spot_rules_for_key(api_key: str | None) -> SpotRulesJournal:
    """The spot rules of this key, shared by every keeper of this user."""
    path = shared_state_dir() / f"spot-{key_fingerprint(api_key)}.json"
    return SpotRulesJournal.shared(path)
