"""The hub's replay window: the last ``capacity`` published entries, read by position in O(1).

A slow reader catches up from an index in the window on every drain; a deque
would walk to that index each time (O(window) per drain, O(window^2) for one
catch-up). A ring list keeps indexing constant-time at any window size.
"""
from __future__ import annotations

from collections.abc import Iterator

from fastev.sse.frames import Entry

__all__ = ("ReplayWindow",)


class ReplayWindow:
    """A bounded, append-only sequence of entries; index 0 is the oldest held."""

    __slots__ = ("capacity", "_ring", "_start")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a replay window holds at least one entry")
        self.capacity = capacity
        self._ring: list[Entry] = []  # grows to capacity, then entries are overwritten in place
        self._start = 0  # ring index of the oldest entry

    def append(self, entry: Entry) -> Entry | None:
        """Add the newest entry; returns the oldest one it pushed out (None while not full)."""
        ring = self._ring
        if len(ring) < self.capacity:
            ring.append(entry)
            return None
        gone = ring[self._start]
        ring[self._start] = entry
        self._start = (self._start + 1) % self.capacity
        return gone

    def __len__(self) -> int:
        return len(self._ring)

    def __getitem__(self, index: int) -> Entry:
        if not 0 <= index < len(self._ring):
            raise IndexError("replay window index out of range")
        return self._ring[(self._start + index) % len(self._ring)]

    def __iter__(self) -> Iterator[Entry]:
        ring, start = self._ring, self._start
        yield from ring[start:]
        yield from ring[:start]
