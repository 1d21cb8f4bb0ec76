"""Fan-out of events to SSE subscribers, with a bounded replay window.

Cost model (what makes 10,000 clients affordable on one core):

- Each event is encoded once (orjson, one JSON line: CR/LF/NUL are escaped, so a
  path can never break a frame) into a complete SSE frame.
- Subscribers with the same grant and the same filters form a *group*; an event
  is checked once per group, not once per subscriber (a site has a handful of
  communities and thousands of readers).
- Frames are not written one by one: ``publish`` appends to the group and
  schedules one flush on the next loop iteration; the flush joins the group's
  new frames once and hands the same bytes to every subscriber's socket in one
  write. Under load, batches grow by themselves (the flush takes longer, more
  events arrive meanwhile), so the number of writes stays bounded by the number
  of clients per flush rather than by frames.
- A subscriber whose socket is backed up (or still sending its replay backlog)
  leaves the shared path and gets a private queue of the same frame objects;
  when that exceeds ``client_queue`` frames it gets ``event: OVERFLOW`` and is
  ended (it resumes with Last-Event-ID). Publishing never blocks, so a stalled
  client costs the others nothing.
- One timer per hub writes keepalive comments to idle clients and notices closed
  sockets; token expiry is one timer per client that has one.

A RENAME-like event whose ``path`` a subscriber may see but whose ``old_path``
it may not is delivered with ``old_path`` redacted to null (a second frame,
encoded once at publish), so a name from a forbidden area never leaks.

Positions: events are published with ``(partition, offset)``, offsets strictly
increasing per partition. Frame ids are opaque (fastev.sse.ids): a cursor of
every partition's next offset, encrypted; EVENT_LOSS and OVERFLOW frames carry
no id and no count, so nobody learns ids or numbers of events they may not see.
"""
from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Literal, Protocol

import orjson

from fastev.acl import PrefixFilter
from fastev.event import KINDS
from fastev.sse.ids import EventIds

__all__ = ("EventHub", "Subscription", "Filters", "Entry", "Sink", "MemorySink", "EVENT_LOSS_FRAME",
           "OVERFLOW_FRAME", "KEEPALIVE_FRAME", "EXPIRED_FRAME", "encode_frame")

_KINDS = frozenset(KINDS)
EVENT_LOSS_FRAME = b'event: EVENT_LOSS\ndata: {"reason":"replay window exceeded: events may have been missed"}\n\n'
OVERFLOW_FRAME = b'event: OVERFLOW\ndata: {"reason":"client too slow: reconnect with Last-Event-ID"}\n\n'
KEEPALIVE_FRAME = b": keepalive\n\n"
EXPIRED_FRAME = b": token expired\n\n"
SOCKET_HIGH_WATER = 256 * 1024  # bytes buffered in a client's socket before its frames queue privately
RETRY_S = 0.02  # how soon a backed-up client is tried again


class Sink(Protocol):
    """Where a subscriber's bytes go: the server's HTTP response, or memory (embedding, tests).

    ``raw_write`` takes bytes already framed for the connection: HTTP/1.1 chunks when ``chunked``. The hub
    frames a group's batch once and calls ``raw_write`` (a transport's own write) per subscriber directly.
    """

    chunked: bool

    def raw_write(self, data: bytes) -> None: ...

    def write(self, data: bytes) -> None: ...

    def buffered(self) -> int: ...

    def closing(self) -> bool: ...


class MemorySink:
    """A sink that keeps what it is given: for in-process consumers of a hub."""

    chunked = False

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closed = False
        self.raw_write = self.chunks.append

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def buffered(self) -> int:
        return 0

    def closing(self) -> bool:
        return self.closed

    def frames(self) -> list[bytes]:
        """Every frame (and comment) written so far, one per item."""
        return [f + b"\n\n" for f in b"".join(self.chunks).split(b"\n\n") if f]


class Entry:
    """One published event: what deciding needs, and its frame(s), encoded once."""

    __slots__ = ("partition", "offset", "kind", "path", "old_path", "source", "frame", "redacted")

    def __init__(self, event: Mapping[str, Any], partition: int, offset: int, event_id: str) -> None:
        kind = event.get("kind")
        if not isinstance(kind, str) or kind not in _KINDS:
            raise ValueError(f"event kind {kind!r} is not one of KINDS")
        path = event.get("path")
        if not isinstance(path, str):
            raise ValueError("event path must be a string")
        old_path = event.get("old_path")
        self.partition, self.offset, self.kind, self.path = partition, offset, kind, path
        self.old_path: str | None = old_path if isinstance(old_path, str) else None
        source = event.get("source")  # ACL rules may be limited to sources (docs/formats.md §6)
        self.source: str | None = source if isinstance(source, str) else None
        self.frame = encode_frame(event, event_id)
        self.redacted = encode_frame({**event, "old_path": None}, event_id) if self.old_path is not None else None


def encode_frame(event: Mapping[str, Any], event_id: str) -> bytes:
    """The SSE frame of one event dict (docs/formats.md §1 fields): id, event (the kind), one line of JSON data."""
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), str(event["kind"]).encode(), orjson.dumps(event))


class Filters:
    """A client's own narrowing: path prefixes and kinds (either empty: no narrowing)."""

    __slots__ = ("paths", "kinds", "_filter")

    def __init__(self, paths: Iterable[str] = (), kinds: Iterable[str] = ()) -> None:
        self.paths, self.kinds = tuple(paths), tuple(kinds)
        narrowing = bool(self.paths or self.kinds)
        self._filter = PrefixFilter(paths=list(self.paths), kinds=list(self.kinds)) if narrowing else None

    def matches(self, path: str, kind: str) -> bool:
        return self._filter is None or self._filter.matches(path, kind)

    def key(self) -> Hashable:
        return (tuple(sorted(set(self.paths))), tuple(sorted(set(self.kinds))))


def http_chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk; ``data`` must not be empty (a zero-length chunk ends the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def frame_for(grant: Any, filters: Filters, entry: Entry) -> bytes | None:
    """The frame a reader with ``grant`` and ``filters`` gets for ``entry``: None, full, or old_path redacted."""
    try:
        if not (filters.matches(entry.path, entry.kind) and grant.allows(entry.path, entry.kind, entry.source)):
            return None
        if entry.redacted is not None and not grant.allows(entry.old_path, entry.kind, entry.source):
            return entry.redacted
        return entry.frame
    except ValueError:
        return None  # an unknown kind or unusable path: not deliverable, never an error


class _Group:
    """Subscribers whose grant and filters decide identically: one check per event, one join per flush."""

    __slots__ = ("key", "grant", "filters", "subs", "pending")

    def __init__(self, key: Hashable, grant: Any, filters: Filters) -> None:
        self.key, self.grant, self.filters = key, grant, filters
        self.subs: list[Subscription] = []
        self.pending: list[bytes] = []


class Subscription:
    """One client's stream. ``done`` resolves when the stream is over (closed, overflow, expiry, shutdown)."""

    __slots__ = ("grant", "filters", "label", "serial", "group", "sink", "queue", "limit", "last_write",
                 "frames", "overflowed", "ended", "done", "_expiry", "__weakref__")

    def __init__(self, grant: Any, filters: Filters, label: str, serial: int) -> None:
        self.grant, self.filters, self.label, self.serial = grant, filters, label, serial
        self.group: _Group | None = None
        self.sink: Sink | None = None  # attached once the response headers are out
        self.queue: deque[bytes] = deque()  # private frames: backlog, or while the socket is backed up
        self.limit = 0
        self.last_write = 0.0
        self.frames = 0  # event frames handed to the socket
        self.overflowed = False
        self.ended = False
        self.done: asyncio.Future[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None

    def frame_for(self, entry: Entry) -> bytes | None:
        return frame_for(self.grant, self.filters, entry)

    def lag(self) -> int:
        """Frames waiting for this client (not yet handed to its socket)."""
        return len(self.queue)

    def buffered(self) -> int:
        return self.sink.buffered() if self.sink is not None else 0


def _grant_key(grant: Any) -> Hashable:
    key = getattr(grant, "key", None)
    return key() if callable(key) else ("object", id(grant))


class EventHub:
    """Publish events with positions; subscribe with a grant and filters; frames flow to each sink."""

    def __init__(self, replay: int = 10_000, client_queue: int = 1_000, *, ids: EventIds | None = None,
                 keepalive_s: float = 15.0, coalesce_s: float = 0.0, clock: Callable[[], float] | None = None) -> None:
        if replay < 0 or client_queue < 1 or coalesce_s < 0:
            raise ValueError("replay must be >= 0, client_queue >= 1 and coalesce_s >= 0")
        self.replay, self.client_queue, self.keepalive_s = replay, client_queue, keepalive_s
        # 0: flush on the next loop iteration. > 0: collect that long first; each write is a kernel send()
        # (~8 us on loopback here), so with many clients that each get few frames, fewer writes cost latency.
        self.coalesce_s = coalesce_s
        self.ids = ids or EventIds()
        self._clock = clock
        self._window: deque[Entry] = deque()
        self._next: dict[int, int] = {}  # partition -> next offset (the cursor after the last event)
        self._lost_upto: dict[int, int] = {}  # partition -> highest offset no longer (or never) in the window
        self._groups: dict[Hashable, _Group] = {}
        self._dirty: list[_Group] = []
        self._private: set[Subscription] = set()
        self._subs: set[Subscription] = set()
        self._serial = 0
        self._flush_handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._retry_handle: asyncio.TimerHandle | None = None
        self.published = 0
        self.frames_sent = 0
        self.writes = 0  # socket writes (each one a send(2)): what a flush costs
        self.drops = 0  # subscribers cut off by overflow

    # ---------------------------------------------------------------- positions

    def seek(self, partition: int, offset: int, low: int = 0) -> None:
        """The stream of ``partition`` starts at ``offset`` here; offsets ``low``..offset-1 exist but are not
        in the window (a resume from before them gets EVENT_LOSS)."""
        if offset > low:
            self._lost_upto[partition] = max(self._lost_upto.get(partition, -1), offset - 1)
        self._next[partition] = max(self._next.get(partition, 0), offset)

    def id_after(self, offset: int, partition: int = 0) -> str:
        """The id that resumes after ``offset`` of ``partition`` (with the hub's current other partitions):
        in a single-partition stream, the id of the frame at ``offset``."""
        return self.ids.encode({**self._next, partition: offset + 1})

    # ---------------------------------------------------------------- publishing

    def publish(self, event: Mapping[str, Any] | Any, offset: int, partition: int = 0) -> None:
        if not isinstance(event, Mapping):
            event = event.to_dict()  # a StorageEvent
        if isinstance(offset, bool) or not isinstance(offset, int) or isinstance(partition, bool) \
                or not isinstance(partition, int) or partition < 0 or offset < 0:
            raise TypeError("offset and partition must be non-negative ints")
        following = self._next.get(partition, 0)
        if offset < following:
            raise ValueError(f"offsets must increase: {offset} in partition {partition} after {following - 1}")
        cursor = dict(self._next)
        cursor[partition] = offset + 1
        entry = Entry(event, partition, offset, self.ids.encode(cursor))  # may refuse the event: no trace then
        self._next = cursor
        self.published += 1
        if self.replay:
            if len(self._window) == self.replay:
                gone = self._window.popleft()
                self._lost_upto[gone.partition] = gone.offset
            self._window.append(entry)
        else:
            self._lost_upto[partition] = offset
        added = False
        for group in self._groups.values():
            frame = frame_for(group.grant, group.filters, entry)
            if frame is not None:
                if not group.pending:
                    self._dirty.append(group)
                group.pending.append(frame)
                added = True
        if added:
            self._schedule_flush(self.coalesce_s)

    def _schedule_flush(self, delay: float = 0.0) -> None:
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()  # no loop (an embedding without asyncio): deliver now
            return
        self._flush_handle = loop.call_later(delay, self._flush) if delay else loop.call_soon(self._flush)

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return 0.0

    def _flush(self) -> None:
        self._flush_handle = None
        self._deliver()

    def _deliver(self) -> None:
        """Write what the groups collected since the last flush; then what backed-up clients can take."""
        now = self._now()
        dirty, self._dirty = self._dirty, []
        written = writes = 0
        for group in dirty:
            frames, group.pending = group.pending, []
            data = b"".join(frames)
            chunk = None
            n = len(frames)
            for sub in tuple(group.subs):
                sink = sub.sink
                if sink is None or sub.queue or sink.buffered() > SOCKET_HIGH_WATER:
                    sub.queue.extend(frames)
                    if len(sub.queue) > sub.limit:
                        self._overflow(sub)
                    else:
                        self._private.add(sub)
                    continue
                if sink.chunked and chunk is None:
                    chunk = http_chunk(data)  # framed once for the whole group
                try:
                    sink.raw_write(chunk if sink.chunked else data)  # type: ignore[arg-type]
                except (RuntimeError, OSError):  # the transport is already closed: the client left
                    self._end(sub)
                    continue
                sub.frames += n
                sub.last_write = now
                written += n
                writes += 1
        self.frames_sent += written
        self.writes += writes
        for sub in tuple(self._private):
            self._drain(sub, now)
        if self._private and self._retry_handle is None:
            # Backed-up clients are tried again soon, on a timer of their own: they never delay the others.
            try:
                self._retry_handle = asyncio.get_running_loop().call_later(RETRY_S, self._retry)
            except RuntimeError:
                pass  # no loop: the next publish tries again

    def _retry(self) -> None:
        self._retry_handle = None
        self._deliver()

    def _drain(self, sub: Subscription, now: float) -> None:
        """Hand a subscriber's private queue to its socket if the socket has room; back to the shared path."""
        sink = sub.sink
        if sink is None:
            return
        if sink.closing():
            self._end(sub)
            return
        if sink.buffered() > SOCKET_HIGH_WATER:
            return
        self._private.discard(sub)
        if not sub.queue:
            return  # nothing to write (an empty HTTP chunk would end the response)
        frames = list(sub.queue)
        sub.queue.clear()
        events = sum(1 for f in frames if f[:3] == b"id:")
        try:
            sink.write(b"".join(frames))
        except (RuntimeError, OSError):
            self._end(sub)
            return
        sub.frames += events
        sub.last_write = now
        self.frames_sent += events
        self.writes += 1

    def _overflow(self, sub: Subscription) -> None:
        self.drops += 1
        sub.overflowed = True
        sub.queue.clear()  # dropped: the client resumes from its Last-Event-ID
        if sub.sink is not None and not sub.sink.closing():
            sub.sink.write(OVERFLOW_FRAME)
        self._end(sub)

    def _end(self, sub: Subscription) -> None:
        """Remove a subscriber and resolve its ``done``; idempotent."""
        if sub.ended:
            return
        sub.ended = True
        self._subs.discard(sub)
        self._private.discard(sub)
        group = sub.group
        if group is not None:
            group.subs.remove(sub)
            if not group.subs:
                del self._groups[group.key]
                if group.pending:
                    self._dirty.remove(group)
        if sub._expiry is not None:
            sub._expiry.cancel()
        if sub.done is not None and not sub.done.done():
            sub.done.set_result(None)
        if not self._subs and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    # ---------------------------------------------------------------- subscribing

    def subscribe(self, grant: Any, filters: Filters | None = None,
                  last_event_id: str | Literal["earliest"] | None = None, *, label: str = "") -> Subscription:
        """Register a subscriber; replay (window entries after ``last_event_id`` it may see) comes first.

        Synchronous, so nothing is published between the replay snapshot and the
        registration: no gap and no duplicate between replayed and live frames.
        Frames wait in the subscription until :meth:`attach` gives it a sink.
        """
        filters = filters or Filters()
        self._serial += 1
        sub = Subscription(grant, filters, label, self._serial)
        try:
            sub.done = asyncio.get_running_loop().create_future()
        except RuntimeError:
            sub.done = None
        backlog: list[bytes] = []
        if last_event_id is not None:
            cursor: dict[int, int] = {}
            if last_event_id != "earliest":
                known = self.ids.decode(str(last_event_id))
                # Unknown id (another stream, a previous run, another key) or positions no longer held: say so.
                if known is None or any(lost >= known.get(p, 0) for p, lost in self._lost_upto.items()):
                    backlog.append(EVENT_LOSS_FRAME)
                cursor = known or {}
            for entry in self._window:
                if entry.offset >= cursor.get(entry.partition, 0):
                    frame = sub.frame_for(entry)
                    if frame is not None:
                        backlog.append(frame)
        sub.queue.extend(backlog)
        sub.limit = self.client_queue + len(backlog)  # the replay itself never counts as overflow
        key = (_grant_key(grant), filters.key())
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key, grant, filters)
        group.subs.append(sub)
        sub.group = group
        self._subs.add(sub)
        self._private.add(sub)
        self._start_ticker()
        return sub

    def attach(self, sub: Subscription, sink: Sink, expires_at: float | None = None) -> None:
        """Frames start flowing to ``sink``; ``expires_at`` (loop time) ends the stream when the token expires."""
        sub.sink = sink
        sub.last_write = self._now()
        if sub.ended:
            if sub.overflowed:  # it overflowed before its headers were out: it still learns why
                sink.write(OVERFLOW_FRAME)
            return
        if expires_at is not None:
            loop = asyncio.get_running_loop()
            sub._expiry = loop.call_at(expires_at, self._expire, sub)
        self._schedule_flush()

    def _expire(self, sub: Subscription) -> None:
        if sub.sink is not None and not sub.sink.closing():
            sub.sink.write(EXPIRED_FRAME)
        self._end(sub)

    def unsubscribe(self, sub: Subscription) -> None:
        self._end(sub)

    def close_all(self) -> None:
        """End every stream (server shutdown)."""
        for sub in tuple(self._subs):
            self._end(sub)

    def _start_ticker(self) -> None:
        if self._ticker is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._ticker = loop.call_later(self._tick_s(), self._tick)

    def _tick_s(self) -> float:
        return max(0.005, min(1.0, self.keepalive_s / 2))

    def _tick(self) -> None:
        """Keepalive comments for idle clients; forget clients whose socket closed."""
        self._ticker = None
        now = self._now()
        for sub in tuple(self._subs):
            sink = sub.sink
            if sink is None:
                continue
            if sink.closing():
                self._end(sub)
            elif now - sub.last_write >= self.keepalive_s and not sub.queue:
                sink.write(KEEPALIVE_FRAME)
                sub.last_write = now
        if self._subs:
            self._start_ticker()

    # ---------------------------------------------------------------- state

    @property
    def clients(self) -> int:
        return len(self._subs)

    @property
    def groups(self) -> int:
        return len(self._groups)

    def max_lag(self) -> int:
        return max((s.lag() for s in self._private), default=0)

    def most_lagging(self, n: int) -> list[Subscription]:
        """The ``n`` subscribers with the most frames waiting, then the most bytes in their socket."""
        return heapq.nlargest(n, self._subs, key=lambda s: (s.lag(), s.buffered()))

    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subs)
