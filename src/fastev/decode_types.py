"""What both decoders share: the source names and record limit they accept, and what a feed returns.

The native codec and the pure-Python reference return these same classes, so a
caller (and an isinstance check) cannot tell which implementation ran.
"""
from __future__ import annotations

from typing import Any

from .errors import DecodeError
from .event import DECODER_NAMES

__all__ = ("DEFAULT_MAX_RECORD_BYTES", "SOURCE_NAMES", "Batch", "DecodeStats")

DEFAULT_MAX_RECORD_BYTES = 1 << 20  # docs/formats.md §4: the default size limit of one record
SOURCE_NAMES = DECODER_NAMES + ("auto",)


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
