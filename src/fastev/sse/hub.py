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
- A subscriber whose socket is backed up, or that asked for a replay, leaves the
  shared path and *catches up*: it reads the replay window from its position,
  never more than a high water mark (256 KiB, at most half ``max_unsent_bytes``)
  ahead of what its socket sent, and rejoins the shared path at the window's end
  (fastev.sse.subscription). What a connection holds is bounded whatever the
  window or the client: its socket buffer never takes a write that would bring it
  over ``max_unsent_bytes`` (one frame larger than that excepted), and nothing
  else is kept for it. When it falls more than ``client_queue`` frames behind
  while its socket is full, or the window moves past its position, it gets
  ``event: OVERFLOW`` and is ended (it resumes with Last-Event-ID). Without a
  window (``replay = 0``) a backed-up reader's frames wait in a private queue,
  bounded by ``client_queue`` frames and ``max_unsent_bytes``. Publishing never
  blocks, so a stalled client costs the others nothing.
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
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Literal

from fastev.event import StorageEvent, event_fields
from fastev.sse.frames import (
    EVENT_LOSS_FRAME,
    EXPIRED_FRAME,
    KEEPALIVE_FRAME,
    OVERFLOW_FRAME,
    Entry,
    Filters,
    FrameWriter,
    MemoryWriter,
    encode_frame,
    frame_for,
    http_chunk,
)
from fastev.sse.ids import EventIds
from fastev.sse.subscription import Group, Subscription
from fastev.sse.window import ReplayWindow

__all__ = ("EventHub", "Subscription", "Filters", "Entry", "FrameWriter", "MemoryWriter", "EVENT_LOSS_FRAME",
           "OVERFLOW_FRAME", "KEEPALIVE_FRAME", "EXPIRED_FRAME", "encode_frame", "http_chunk",
           "MAX_UNSENT_BYTES", "SOCKET_HIGH_WATER")

SOCKET_HIGH_WATER = 256 * 1024  # a client's socket is given more frames only while it holds less than this
MAX_UNSENT_BYTES = 1 << 20  # default bound of one batch written at once / of a private queue
RETRY_S = 0.02  # how soon a backed-up client is tried again


def _grant_key(grant: Any) -> Hashable:
    key = getattr(grant, "key", None)
    return key() if callable(key) else ("object", id(grant))


class EventHub:
    """Publish events with positions; subscribe with a grant and filters; frames flow to each writer."""

    def __init__(self, replay: int = 10_000, client_queue: int = 1_000, *, ids: EventIds | None = None,
                 keepalive_s: float = 15.0, coalesce_s: float = 0.0, clock: Callable[[], float] | None = None,
                 max_unsent_bytes: int = MAX_UNSENT_BYTES) -> None:
        if replay < 0 or client_queue < 1 or coalesce_s < 0 or max_unsent_bytes < 1:
            raise ValueError("replay must be >= 0, client_queue >= 1, coalesce_s >= 0 and max_unsent_bytes >= 1")
        self.replay, self.client_queue, self.keepalive_s = replay, client_queue, keepalive_s
        self.max_unsent_bytes = max_unsent_bytes
        # A socket holding more than this is backed up: its client catches up, in writes that fill it to here.
        self.high_water = min(SOCKET_HIGH_WATER, max_unsent_bytes // 2)
        # 0: flush on the next loop iteration. > 0: collect that long first; each write is a kernel send()
        # (~8 us on loopback here), so with many clients that each get few frames, fewer writes cost latency.
        self.coalesce_s = coalesce_s
        self.ids = ids or EventIds()
        self._clock = clock
        self._window = ReplayWindow(max(replay, 1))  # unused when replay == 0
        self._seq = 0  # publication number of the next entry of the window (the first is _seq - len(window))
        self._next: dict[int, int] = {}  # partition -> next offset (the cursor after the last event)
        self._lost_upto: dict[int, int] = {}  # partition -> highest offset no longer (or never) in the window
        self._groups: dict[Hashable, Group] = {}
        self._dirty: list[Group] = []
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

    def publish(self, event: StorageEvent | Mapping[str, Any], offset: int, partition: int = 0) -> None:
        """Serve one event (a StorageEvent, or a dict of its fields) at ``offset`` of ``partition``."""
        event = event_fields(event)  # TypeError for anything else
        if isinstance(offset, bool) or not isinstance(offset, int) or isinstance(partition, bool) \
                or not isinstance(partition, int) or partition < 0 or offset < 0:
            raise TypeError("offset and partition must be non-negative ints")
        following = self._next.get(partition, 0)
        if offset < following:
            raise ValueError(f"offsets must increase: {offset} in partition {partition} after {following - 1}")
        cursor = dict(self._next)
        cursor[partition] = offset + 1
        # May refuse the event: no trace then.
        entry = Entry(event, partition, offset, self.ids.encode(cursor), self._seq)
        self._next = cursor
        self.published += 1
        if self.replay:
            gone = self._window.append(entry)
            if gone is not None:
                self._lost_upto[gone.partition] = gone.offset
            self._seq += 1
        else:
            self._lost_upto[partition] = offset
        added = False
        for group in self._groups.values():
            frame = frame_for(group.grant, group.filters, entry)
            if frame is not None:
                if not group.pending:
                    self._dirty.append(group)
                    group.first_seq = entry.seq
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
        """Write what the groups collected since the last flush; then what catching-up clients can take."""
        now = self._now()
        dirty, self._dirty = self._dirty, []
        written = writes = 0
        for group in dirty:
            frames, group.pending = group.pending, []
            data = b"".join(frames)
            chunk = None
            n = len(frames)
            for sub in tuple(group.subs):
                writer = sub.writer
                if sub.replay_next is not None:  # catching up: it reads these from the window
                    self._fall_behind(sub, n)
                    continue
                buffered = 0 if writer is None else writer.buffered()
                if writer is None or sub.queue or buffered > self.high_water \
                        or buffered + len(data) > self.max_unsent_bytes:
                    self._divert(sub, group, frames, len(data))
                    continue
                if writer.chunked and chunk is None:
                    chunk = http_chunk(data)  # framed once for the whole group
                try:
                    writer.raw_write(chunk if writer.chunked else data)  # type: ignore[arg-type]
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

    def _divert(self, sub: Subscription, group: Group, frames: list[bytes], size: int) -> None:
        """A live subscriber that cannot take this batch now: it catches up from the window (or queues)."""
        if self.replay:
            sub.replay_next, sub.replay_from = group.first_seq, {}
            self._private.add(sub)
            self._fall_behind(sub, len(frames))
            return
        sub.enqueue(frames, size)
        if len(sub.queue) > sub.limit or sub.queued_bytes + sub.buffered() > self.max_unsent_bytes:
            self._overflow(sub)
        else:
            self._private.add(sub)

    def _fall_behind(self, sub: Subscription, n: int) -> None:
        """``n`` new frames for a catching-up subscriber: lag, if its socket is full (it is not reading)."""
        if sub.writer is None or sub.writer.buffered() < self.high_water:
            return  # it is taking bytes: the next drain sends these
        sub.behind += n
        if sub.behind > self.client_queue:
            self._overflow(sub)

    def _retry(self) -> None:
        self._retry_handle = None
        self._deliver()

    def _drain(self, sub: Subscription, now: float) -> None:
        """Give a private subscriber what its socket has room for: its queue, then the window from its position.

        Runs after the groups' batches are out, so every frame published so far is in the window: one that
        reaches the window's end has seen everything and rejoins the shared path, with no gap nor duplicate.
        """
        writer = sub.writer
        if writer is None:
            return
        if writer.closing():
            self._end(sub)
            return
        room = self.high_water - writer.buffered()
        if room <= 0:
            return
        out: list[bytes] = []
        size = events = 0
        while sub.queue and size < room:
            queued = sub.queue.popleft()
            out.append(queued)
            size += len(queued)
            events += queued[:3] == b"id:"
        sub.queued_bytes -= size
        if sub.replay_next is not None and size < room:
            first = self._seq - len(self._window)
            if sub.replay_next < first:  # the window moved past it: what it missed is gone
                self._overflow(sub)
                return
            i = sub.replay_next - first
            window = self._window
            end = len(window)
            while i < end:  # indexed from the reader's position: each drain costs what it sends
                entry = window[i]
                i += 1
                frame = sub.wants(entry)
                if frame is not None:
                    out.append(frame)
                    size += len(frame)
                    events += 1
                    if sub.behind:  # any frame sent is progress: a client that reads never overflows by lag
                        sub.behind -= 1
                    if size >= room:
                        break
            sub.replay_next = first + i
            if sub.replay_next >= self._seq:  # caught up: live again
                sub.replay_next, sub.replay_from, sub.behind = None, {}, 0
        if not sub.queue and sub.replay_next is None:
            self._private.discard(sub)
        if not out:
            return  # nothing to write (an empty HTTP chunk would end the response)
        try:
            writer.write(b"".join(out))
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
        sub.queued_bytes, sub.replay_next = 0, None
        if sub.writer is not None and not sub.writer.closing():
            sub.writer.write(OVERFLOW_FRAME)
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
            del group.subs[sub]
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
        Frames wait in the subscription until :meth:`attach` gives it a writer.
        """
        filters = filters or Filters()
        self._serial += 1
        sub = Subscription(grant, filters, label, self._serial)
        try:
            sub.done = asyncio.get_running_loop().create_future()
        except RuntimeError:
            sub.done = None
        if last_event_id is not None:
            cursor: dict[int, int] = {}
            if last_event_id != "earliest":
                known = self.ids.decode(str(last_event_id))
                # Unknown id (another stream, a previous run, another key) or positions no longer held: say so.
                if known is None or any(lost >= known.get(p, 0) for p, lost in self._lost_upto.items()):
                    sub.enqueue([EVENT_LOSS_FRAME], len(EVENT_LOSS_FRAME))
                cursor = known or {}
            if self._window:  # its replay: a catch-up from the window's start, past what it already has
                sub.replay_next, sub.replay_from = self._seq - len(self._window), cursor
        sub.limit = self.client_queue + len(sub.queue)
        key = (_grant_key(grant), filters.key())
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key, grant, filters)
        group.subs[sub] = None
        sub.group = group
        self._subs.add(sub)
        self._private.add(sub)
        self._start_ticker()
        return sub

    def attach(self, sub: Subscription, writer: FrameWriter, expires_at: float | None = None) -> None:
        """Frames start flowing to ``writer``; ``expires_at`` (loop time) ends the stream when the token expires."""
        sub.writer = writer
        sub.last_write = self._now()
        if sub.ended:
            if sub.overflowed:  # it overflowed before its headers were out: it still learns why
                writer.write(OVERFLOW_FRAME)
            return
        if expires_at is not None:
            loop = asyncio.get_running_loop()
            sub._expiry = loop.call_at(expires_at, self._expire, sub)
        self._schedule_flush()

    def _expire(self, sub: Subscription) -> None:
        if sub.writer is not None and not sub.writer.closing():
            sub.writer.write(EXPIRED_FRAME)
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
            writer = sub.writer
            if writer is None:
                continue
            if writer.closing():
                self._end(sub)
            elif now - sub.last_write >= self.keepalive_s and not sub.queue and sub.replay_next is None:
                writer.write(KEEPALIVE_FRAME)
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
