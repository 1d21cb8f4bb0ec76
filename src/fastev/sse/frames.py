"""What the hub sends: SSE frames of events (encoded once), the fixed control frames, and where bytes go.

``Entry`` is one published event with its frame(s); ``frame_for`` decides which frame a reader gets;
``FrameWriter`` is a subscriber's connection (the server's transport, or :class:`MemoryWriter`).
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Protocol

import orjson

from fastev.acl import PrefixFilter
from fastev.event import KINDS

__all__ = ("Entry", "Filters", "FrameWriter", "MemoryWriter", "encode_frame", "frame_for", "http_chunk",
           "EVENT_LOSS_FRAME", "OVERFLOW_FRAME", "KEEPALIVE_FRAME", "EXPIRED_FRAME")

_KINDS = frozenset(KINDS)
EVENT_LOSS_FRAME = b'event: EVENT_LOSS\ndata: {"reason":"replay window exceeded: events may have been missed"}\n\n'
OVERFLOW_FRAME = b'event: OVERFLOW\ndata: {"reason":"client too slow: reconnect with Last-Event-ID"}\n\n'
KEEPALIVE_FRAME = b": keepalive\n\n"
EXPIRED_FRAME = b": token expired\n\n"


class FrameWriter(Protocol):
    """Where a subscriber's bytes go: the server's HTTP response, or memory (embedding, tests).

    ``raw_write`` takes bytes already framed for the connection: HTTP/1.1 chunks when ``chunked``. The hub
    frames a group's batch once and calls ``raw_write`` (a transport's own write) per subscriber directly.
    """

    chunked: bool

    def raw_write(self, data: bytes) -> None: ...

    def write(self, data: bytes) -> None: ...

    def buffered(self) -> int: ...

    def closing(self) -> bool: ...


class MemoryWriter:
    """A writer that keeps what it is given: for in-process consumers of a hub."""

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

    __slots__ = ("partition", "offset", "seq", "kind", "path", "old_path", "source", "frame", "redacted")

    def __init__(self, event: Mapping[str, Any], partition: int, offset: int, event_id: str, seq: int = 0) -> None:
        kind = event.get("kind")
        if not isinstance(kind, str) or kind not in _KINDS:
            raise ValueError(f"event kind {kind!r} is not one of KINDS")
        path = event.get("path")
        if not isinstance(path, str):
            raise ValueError("event path must be a string")
        old_path = event.get("old_path")
        self.partition, self.offset, self.kind, self.path = partition, offset, kind, path
        self.seq = seq  # the hub's publication number: where the entry sits in the replay window
        self.old_path: str | None = old_path if isinstance(old_path, str) else None
        source = event.get("source")  # ACL rules may be limited to sources (docs/formats.md §6)
        self.source: str | None = source if isinstance(source, str) else None
        self.frame = encode_frame(event, event_id)
        self.redacted = encode_frame({**event, "old_path": None}, event_id) if self.old_path is not None else None


def encode_frame(event: Mapping[str, Any], event_id: str) -> bytes:
    """The SSE frame of one event dict (docs/formats.md §1 fields): id, event (the kind), one JSON line of data."""
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

