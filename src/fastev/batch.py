"""What one feed of a decoder produces (both implementations return these)."""
from __future__ import annotations

from typing import Any

from .errors import DecodeError


class DecodeStats:
    __slots__ = ("records", "decoded", "skipped", "rejected", "loss")

    def __init__(self) -> None:
        self.records = self.decoded = self.skipped = self.rejected = self.loss = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}

    def add(self, other: DecodeStats) -> None:
        for k in self.__slots__:
            setattr(self, k, getattr(self, k) + getattr(other, k))


class Batch:
    """What one feed produced: event dicts in order, errors in order, counters."""

    __slots__ = ("events", "errors", "stats")

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.errors: list[DecodeError] = []
        self.stats = DecodeStats()
