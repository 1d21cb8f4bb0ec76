"""One SSE reader's state in the hub (:class:`Subscription`), and readers that decide alike (:class:`Group`)."""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Any

from fastev.sse.frames import Entry, Filters, FrameWriter, frame_for

__all__ = ("Subscription", "Group")


class Group:
    """Subscribers whose grant and filters decide identically: one check per event, one join per flush."""

    __slots__ = ("key", "grant", "filters", "subs", "pending", "first_seq")

    def __init__(self, key: Hashable, grant: Any, filters: Filters) -> None:
        self.key, self.grant, self.filters = key, grant, filters
        # Insertion-ordered (delivery order is subscription order); a dict so leaving costs O(1).
        self.subs: dict[Subscription, None] = {}
        self.pending: list[bytes] = []
        self.first_seq = 0  # publication number of the oldest entry behind ``pending``


class Subscription:
    """One client's stream. ``done`` resolves when the stream is over (closed, overflow, expiry, shutdown).

    A subscriber is *live* (it gets its group's batches as they are flushed) or *catching up*: it reads
    the hub's replay window from publication number ``replay_next`` on, as fast as its socket takes
    bytes, then becomes live again. The replay of ``?from=earliest`` / Last-Event-ID is a catch-up from
    the start; a live reader whose socket backs up catches up too. Nothing is copied for a reader that
    catches up: the window holds the frames anyway. Without a window (``replay = 0``) a backed-up
    reader's frames wait in ``queue`` instead.
    """

    __slots__ = ("grant", "filters", "label", "serial", "group", "writer", "queue", "queued_bytes", "limit",
                 "replay_next", "replay_from", "behind", "last_write", "frames", "overflowed",
                 "ended", "done", "_expiry", "__weakref__")

    def __init__(self, grant: Any, filters: Filters, label: str, serial: int) -> None:
        self.grant, self.filters, self.label, self.serial = grant, filters, label, serial
        self.group: Group | None = None
        self.writer: FrameWriter | None = None  # attached once the response headers are out
        self.queue: deque[bytes] = deque()  # frames for this client only: EVENT_LOSS, or live without a window
        self.queued_bytes = 0
        self.limit = 0  # frames ``queue`` may hold
        self.replay_next: int | None = None  # catching up: the next publication number to read
        self.replay_from: dict[int, int] = {}  # catching up: partition -> first offset wanted (a resume)
        # Frames published for it while its socket was full, less frames sent since: what it fell behind by.
        self.behind = 0
        self.last_write = 0.0
        self.frames = 0  # event frames handed to the socket
        self.overflowed = False
        self.ended = False
        self.done: asyncio.Future[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None

    def frame_for(self, entry: Entry) -> bytes | None:
        return frame_for(self.grant, self.filters, entry)

    def wants(self, entry: Entry) -> bytes | None:
        """The frame of ``entry`` for this reader while catching up (None: not for it, or before its resume)."""
        if entry.offset < self.replay_from.get(entry.partition, 0):
            return None
        return self.frame_for(entry)

    def lag(self) -> int:
        """Frames waiting for this client (not yet handed to its socket)."""
        return len(self.queue) + self.behind

    def buffered(self) -> int:
        return self.writer.buffered() if self.writer is not None else 0

    def enqueue(self, frames: list[bytes], size: int) -> None:
        self.queue.extend(frames)
        self.queued_bytes += size
