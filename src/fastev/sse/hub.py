"""Fan-out of events to SSE subscribers, with a bounded replay window.

Each event is encoded once (orjson, one JSON line: CR/LF/NUL are escaped, so a
path can never break a frame) into a complete SSE frame; subscribers share those
bytes. Publishing never blocks: every subscriber has a bounded queue, and one
that overflows gets ``event: OVERFLOW`` and is closed (it resumes with
Last-Event-ID), so a stalled client costs the others nothing.

A RENAME-like event whose ``path`` a subscriber may see but whose ``old_path``
it may not is delivered with ``old_path`` redacted to null (a second frame,
encoded once at publish), so a name from a forbidden area never leaks.

Ids are the caller's positions: strictly increasing integers. A subscriber only
ever sees frames its grant allows; the EVENT_LOSS and OVERFLOW frames carry no
id and no count, so nobody learns ids or numbers of events they may not see.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import orjson

from fastev.acl import PrefixFilter
from fastev.event import KINDS

__all__ = ("EventHub", "Subscription", "Filters", "Entry", "EVENT_LOSS_FRAME", "OVERFLOW_FRAME", "encode_frame")

_KINDS = frozenset(KINDS)
EVENT_LOSS_FRAME = b'event: EVENT_LOSS\ndata: {"reason":"replay window exceeded: events may have been missed"}\n\n'
OVERFLOW_FRAME = b'event: OVERFLOW\ndata: {"reason":"client too slow: reconnect with Last-Event-ID"}\n\n'
CLOSED = object()  # queue sentinel: the stream ends after what precedes it


class Entry:
    """One published event: what deciding needs, and its frame(s), encoded once."""

    __slots__ = ("id", "kind", "path", "old_path", "frame", "redacted")

    def __init__(self, event: Mapping[str, Any], event_id: int) -> None:
        kind = event.get("kind")
        if not isinstance(kind, str) or kind not in _KINDS:
            raise ValueError(f"event kind {kind!r} is not one of KINDS")
        path = event.get("path")
        if not isinstance(path, str):
            raise ValueError("event path must be a string")
        old_path = event.get("old_path")
        self.id, self.kind, self.path = event_id, kind, path
        self.old_path: str | None = old_path if isinstance(old_path, str) else None
        self.frame = encode_frame(event, event_id)
        self.redacted = encode_frame({**event, "old_path": None}, event_id) if self.old_path is not None else None


def encode_frame(event: Mapping[str, Any], event_id: int) -> bytes:
    """The SSE frame of one event dict (FORMATS §1 fields): id, event (the kind), one line of JSON data."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, str(event["kind"]).encode(), orjson.dumps(event))


class Filters:
    """A client's own narrowing: path prefixes and kinds (either empty: no narrowing)."""

    __slots__ = ("paths", "kinds", "_filter")

    def __init__(self, paths: Iterable[str] = (), kinds: Iterable[str] = ()) -> None:
        self.paths, self.kinds = tuple(paths), tuple(kinds)
        narrowing = bool(self.paths or self.kinds)
        self._filter = PrefixFilter(paths=list(self.paths), kinds=list(self.kinds)) if narrowing else None

    def matches(self, path: str, kind: str) -> bool:
        return self._filter is None or self._filter.matches(path, kind)


class Subscription:
    """One client's view of the hub: replay backlog first, then the live queue."""

    __slots__ = ("grant", "filters", "backlog", "queue", "overflowed", "closed", "on_overflow", "__weakref__")

    def __init__(self, grant: Any, filters: Filters, backlog: list[bytes], maxsize: int) -> None:
        self.grant, self.filters = grant, filters
        self.backlog = deque(backlog)
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.closed = False
        self.on_overflow: Callable[[], None] | None = None

    def frame_for(self, entry: Entry) -> bytes | None:
        """The frame this subscriber gets for ``entry``: None (not allowed), full, or old_path redacted."""
        try:
            if not (self.filters.matches(entry.path, entry.kind) and self.grant.allows(entry.path, entry.kind)):
                return None
            if entry.redacted is not None and not self.grant.allows(entry.old_path, entry.kind):
                return entry.redacted
            return entry.frame
        except ValueError:
            return None  # an unknown kind or unusable path: not deliverable, never an error

    def lag(self) -> int:
        return len(self.backlog) + self.queue.qsize()

    async def next(self, timeout: float | None) -> bytes | None:
        """The next frame; None on timeout; raises EOFError once the stream is over."""
        if self.backlog:
            return self.backlog.popleft()
        try:
            item = self.queue.get_nowait()
        except asyncio.QueueEmpty:
            if self.closed:
                raise EOFError from None
            try:
                item = await asyncio.wait_for(self.queue.get(), timeout)
            except TimeoutError:
                return None
        if item is CLOSED:
            self.closed = True
            raise EOFError
        return item  # type: ignore[no-any-return]


class EventHub:
    """Publish events (with integer positions as ids); subscribe with a grant and filters."""

    def __init__(self, replay: int = 10_000, client_queue: int = 1_000) -> None:
        if replay < 0 or client_queue < 1:
            raise ValueError("replay must be >= 0 and client_queue >= 1")
        self.replay, self.client_queue = replay, client_queue
        # The frame bytes are shared by every subscriber.
        self._window: deque[Entry] = deque(maxlen=replay or None)
        self._evicted_upto: int | None = None  # highest id no longer in the window
        self.last_id: int | None = None
        self._subs: set[Subscription] = set()
        self.published = 0
        self.frames_sent = 0  # incremented by the server per frame written
        self.drops = 0  # subscribers cut off by overflow

    # ---------------------------------------------------------------- publishing

    def publish(self, event: Mapping[str, Any] | Any, event_id: int) -> None:
        if not isinstance(event, Mapping):
            event = event.to_dict()  # a StorageEvent
        if isinstance(event_id, bool) or not isinstance(event_id, int):
            raise TypeError("event_id must be an int")
        if self.last_id is not None and event_id <= self.last_id:
            raise ValueError(f"event ids must increase: {event_id} after {self.last_id}")
        entry = Entry(event, event_id)
        self.last_id = event_id
        self.published += 1
        if self.replay:
            if len(self._window) == self.replay:
                self._evicted_upto = self._window[0].id
            self._window.append(entry)
        else:
            self._evicted_upto = event_id
        for sub in tuple(self._subs):
            frame = sub.frame_for(entry)
            if frame is not None:
                try:
                    sub.queue.put_nowait(frame)
                except asyncio.QueueFull:
                    self._overflow(sub)

    def _overflow(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        sub.overflowed = True
        self.drops += 1
        # What is still queued is dropped: the client resumes from its Last-Event-ID.
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(OVERFLOW_FRAME)
        sub.queue.put_nowait(CLOSED)
        if sub.on_overflow is not None:
            sub.on_overflow()

    # ---------------------------------------------------------------- subscribing

    def subscribe(self, grant: Any, filters: Filters | None = None,
                  last_event_id: int | Literal["earliest"] | None = None) -> Subscription:
        """Register a subscriber; replay (window entries after ``last_event_id`` it may see) comes first.

        Synchronous, so nothing is published between the replay snapshot and the
        registration: no gap and no duplicate between replayed and live frames.
        """
        filters = filters or Filters()
        backlog: list[bytes] = []
        probe = Subscription(grant, filters, [], self.client_queue)
        if last_event_id is not None:
            after: int | None
            if last_event_id == "earliest":
                after = None
            else:
                after = int(last_event_id)
                if self._evicted_upto is not None and after < self._evicted_upto:
                    backlog.append(EVENT_LOSS_FRAME)
            for entry in self._window:
                if after is None or entry.id > after:
                    frame = probe.frame_for(entry)
                    if frame is not None:
                        backlog.append(frame)
        probe.backlog.extend(backlog)
        self._subs.add(probe)
        return probe

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def close_all(self) -> None:
        """End every stream (server shutdown)."""
        for sub in tuple(self._subs):
            self._subs.discard(sub)
            try:
                sub.queue.put_nowait(CLOSED)
            except asyncio.QueueFull:
                sub.closed = True

    @property
    def clients(self) -> int:
        return len(self._subs)

    def max_lag(self) -> int:
        return max((s.lag() for s in self._subs), default=0)
