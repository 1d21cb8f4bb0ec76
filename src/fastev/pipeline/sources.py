"""Pipeline sources: files and stdin (Kafka topics: ``kafka_source``), as async iterators of *units*.

A unit is one bounded piece of input (a 4 MiB chunk, a consumer batch) plus the
position that becomes safe to commit once the unit and everything before it is
delivered. Each input stream (one file, stdin, one Kafka subscription) has its
own decoder state and its own ordered completion tracker (``Stream``).

Positions and held-back moves: decoders of ``PAIRING_FORMATS`` hold an
``IN_MOVED_FROM`` back for up to ``pairing_window`` further records (README,
"Moves"), so a unit's position stays ``pairing_window + 1`` records behind its
end; every record before it has then been fully emitted. Counting errs on the
safe side: whatever might not be a record (blank lines, frames without data)
is not counted, which only moves the position further back.
"""
from __future__ import annotations

import asyncio
import glob
import os
import re
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..framing import SSE_STARTS as _SSE_STARTS
from .checkpoint import CompletionTracker, FileCheckpoints, read_head
from .config import SourceConfig

if TYPE_CHECKING:
    from .kafka_source import KafkaSource

__all__ = ("Unit", "Stream", "FileSource", "StdinSource", "CHUNK_BYTES", "make_source")

CHUNK_BYTES = 4 << 20


class Stream:
    """One input stream: decoder state (the pipeline's transcoders) and ordered commits."""

    def __init__(self, source: SourceConfig, name: str, commit: Callable[[list[Any]], None],
                 base_offset: int = 0) -> None:
        self.source = source
        self.name = name
        self.tracker = CompletionTracker(commit)
        self.base_offset = base_offset      # files: where reading (re)started; error offsets are relative
        self.transcoders: dict[tuple[str, int], Any] = {}
        self.records_fed = 0                # Kafka: decoder index of the next record


@dataclass(slots=True)
class Unit:
    stream: Stream
    data: bytes | list[bytes]              # a chunk of a byte stream, or framed records
    position: Any                          # committed once delivered (None: nothing new)
    final: bool = False                    # end of this stream: finish the transcoders
    offsets: list[int] | None = None       # Kafka: one offset per record
    inputs: list[str] | None = None        # Kafka: "topic[partition]" per record
    read_bytes: int = 0


# -- record counting behind the pairing window ----------------------------------------------------

_DATA_LINE = re.compile(rb"(?m)^data(?::|\r?$)")


class RecordLag:
    """Tracks the end offsets of the last ``window + 2`` records of a byte stream."""

    def __init__(self, window: int, sse: bool, start: int) -> None:
        self.keep = window + 2
        self.sse = sse
        self.ends: deque[int] = deque(maxlen=self.keep)
        self.carry = b""        # the partial record at the end of the last chunk (capped)
        self.carry_capped = False
        self.offset = start     # stream offset of the next byte

    def feed(self, data: bytes) -> int | None:
        """Account for ``data``; returns the resume position (end of the record window+1 before the last)."""
        base = self.offset
        self.offset += len(data)
        sep, is_record = (self._sse_sep, self._sse_record) if self.sse else (self._line_sep, self._line_record)
        last = sep(data, len(data))
        if last is None:
            self._carry(data, append=True)
            return self.position()
        found: list[int] = []
        end = last
        while len(found) < self.keep:
            prev = sep(data, end[0])
            start = prev[1] if prev is not None else 0
            body = data[start:end[0]]
            if prev is None:  # begins in an earlier chunk
                record = False if self.carry_capped else is_record(self.carry + body)
            else:
                record = is_record(body)
            if record:
                found.append(base + end[1])
            if prev is None:
                break
            end = prev
        self.ends.extend(reversed(found))
        self.carry, self.carry_capped = b"", False
        self._carry(data[last[1]:], append=False)
        return self.position()

    def _carry(self, tail: bytes, append: bool) -> None:
        if self.carry_capped:
            return
        self.carry = self.carry + tail if append else tail
        if len(self.carry) > 65536:  # unknown: counted as no record (the safe side)
            self.carry, self.carry_capped = b"", True

    def position(self) -> int | None:
        return self.ends[0] if len(self.ends) == self.keep else None

    @staticmethod
    def _line_sep(data: bytes, before: int) -> tuple[int, int] | None:
        i = data.rfind(b"\n", 0, before)
        return None if i < 0 else (i, i + 1)

    @staticmethod
    def _line_record(body: bytes) -> bool:
        return bool(body.strip())

    @staticmethod
    def _sse_sep(data: bytes, before: int) -> tuple[int, int] | None:
        # A blank line ends a frame: "\n\n" or "\n\r\n" (CR-only streams never advance: safe).
        a = data.rfind(b"\n\n", 0, before)
        b = data.rfind(b"\n\r\n", 0, before)
        if a < 0 and b < 0:
            return None
        return (a, a + 2) if a >= b else (b, b + 3)

    @staticmethod
    def _sse_record(body: bytes) -> bool:
        return _DATA_LINE.search(body) is not None


def _line_position(data: bytes, base: int) -> int | None:
    i = data.rfind(b"\n")
    return None if i < 0 else base + i + 1


def _is_sse(fmt: str, head: bytes) -> bool:
    if fmt == "dcache-inotify":
        return True
    return fmt == "auto" and head.lstrip(b" \t\r\n").startswith(_SSE_STARTS)


# -- files --------------------------------------------------------------------------------------

def expand_paths(source: SourceConfig) -> list[Path]:
    out: list[Path] = []
    for pattern in source.paths:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise ConfigError(f"source {source.name!r}: paths: {pattern!r} matches no file")
        out += [Path(m).resolve() for m in matches]
    return list(dict.fromkeys(out))


class FileSource:
    """Files in order, each from its checkpoint to its end, then done."""

    kind = "file"

    def __init__(self, config: SourceConfig, checkpoints: FileCheckpoints, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.config = config
        self.checkpoints = checkpoints
        self.chunk_bytes = chunk_bytes
        self.paths = expand_paths(config)
        for p in self.paths:
            if not p.is_file():
                raise ConfigError(f"source {config.name!r}: paths: {p} is not a readable file")
        self.total_bytes = 0
        self.start_bytes = 0
        self._starts: dict[Path, tuple[os.stat_result, int, bytes]] = {}
        for p in self.paths:
            try:
                with open(p, "rb") as f:
                    st = os.fstat(f.fileno())
                    head = read_head(f)  # the fingerprint tells a refilled or replaced file apart
            except OSError as e:
                raise ConfigError(f"source {config.name!r}: paths: cannot read {p}: {e.strerror}") from None
            start = checkpoints.load(p, st, head)
            self._starts[p] = (st, start, head)
            self.total_bytes += st.st_size
            self.start_bytes += start

    async def units(self, stop: asyncio.Event) -> AsyncIterator[Unit]:
        for path in self.paths:
            st, start, head = self._starts[path]
            if start:
                print(f"fastev run: {path}: resuming at byte {start} (checkpoint)", file=sys.stderr)

            def commit(positions: list[Any], path: Path = path, st: os.stat_result = st,
                       head: bytes = head) -> None:
                self.checkpoints.commit(path, st, positions[-1], head)

            stream = Stream(self.config, str(path), commit, base_offset=start)
            with open(path, "rb") as f:  # noqa: ASYNC230 - reads go through a worker thread
                f.seek(start)
                offset = start
                lag: RecordLag | None = None
                while not stop.is_set():
                    data = await asyncio.to_thread(f.read, self.chunk_bytes)
                    if not data:
                        break
                    if self.config.pairing_window:
                        if lag is None:
                            lag = RecordLag(self.config.pairing_window, _is_sse(self.config.format, data), offset)
                        position = lag.feed(data)
                    else:
                        position = _line_position(data, offset)
                    offset += len(data)
                    yield Unit(stream, data, position, read_bytes=len(data))
                if stop.is_set():  # interrupted: keep the decoder's tail; resume from the last checkpoint
                    return
                yield Unit(stream, b"", offset, final=True)


class StdinSource:
    """Standard input to its end; no checkpoint (a pipe cannot be re-read)."""

    kind = "stdin"

    def __init__(self, config: SourceConfig, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.config = config
        self.chunk_bytes = chunk_bytes

    async def units(self, stop: asyncio.Event) -> AsyncIterator[Unit]:
        stream = Stream(self.config, "<stdin>", lambda positions: None)
        fd = sys.stdin.buffer.fileno()
        while not stop.is_set():
            data = await asyncio.to_thread(os.read, fd, self.chunk_bytes)
            if not data:
                break
            yield Unit(stream, data, None, read_bytes=len(data))
        yield Unit(stream, b"", None, final=True)


def make_source(config: SourceConfig, checkpoints: FileCheckpoints, bootstrap: str,
                consumer_config: dict[str, Any]) -> FileSource | StdinSource | KafkaSource:
    if config.type == "file":
        return FileSource(config, checkpoints)
    if config.type == "stdin":
        return StdinSource(config)
    from .kafka_source import KafkaSource

    return KafkaSource(config, bootstrap, consumer_config)
