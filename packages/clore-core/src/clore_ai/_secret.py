"""A holder for the API key that cannot be printed by accident."""

from __future__ import annotations

__all__ = ["Secret", "mask"]


def mask(value: str | None) -> str:
    """Fixed-length mask showing at most the last 4 characters: ``****abcd``."""
    if not value:
        return "(none)"
    tail = value[-4:] if len(value) >= 8 else ""
    return "****" + tail


class Secret:
    """Wraps a secret string; ``repr``/``str`` show only :func:`mask`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def last4(self) -> str:
        return self._value[-4:] if len(self._value) >= 8 else ""

    def __repr__(self) -> str:
        return f"Secret({mask(self._value)!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")
