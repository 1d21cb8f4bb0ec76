"""JSON-lines framing, pure Python (the oracle for the native codec's C line framer).

A record is one line without its ``\\n`` (and one trailing ``\\r``); blank lines
are not records; a line over the size limit is reported once as ``too-large``
with a bounded prefix and the rest of it is dropped (docs/formats.md §5).
"""
from __future__ import annotations

from collections.abc import Iterator

from ..framing import RawRecord, SseFrame, SseFramer

__all__ = ("LineFramer", "RawRecord", "SseFrame", "SseFramer")


class LineFramer:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.buf = b""
        self.buf_offset = 0     # stream offset of buf[0]
        self.line_no = 1        # line number of buf[0]
        self.discarding = False  # inside an oversize line already reported

    def feed(self, data: bytes, final: bool = False) -> Iterator[RawRecord]:
        buf = self.buf + data if self.buf else data
        start = 0
        n = len(buf)
        while start < n:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            if self.discarding:
                self.discarding = False
            else:
                rec = self._record(buf, start, nl)
                if rec is not None:
                    yield rec
            self.line_no += 1
            start = nl + 1
        rest = buf[start:]
        self.buf_offset += start
        if self.discarding:
            self.buf_offset += len(rest)
            rest = b""
        elif len(rest) > self.max_bytes + 1:  # +1: a CR that a LF may still follow
            yield RawRecord(rest[: self.max_bytes], self.buf_offset, self.line_no, True)
            self.discarding = True
            self.buf_offset += len(rest)
            rest = b""
        self.buf = rest
        if final:
            if self.buf and not self.discarding:
                rec = self._record(self.buf, 0, len(self.buf))
                if rec is not None:
                    yield rec
            self.buf_offset += len(self.buf)
            self.buf = b""
            self.discarding = False

    def _record(self, buf: bytes, start: int, end: int) -> RawRecord | None:
        if end > start and buf[end - 1] == 0x0D:
            end -= 1
        line = buf[start:end]
        offset = self.buf_offset + start
        # size first: an oversize line is too-large whatever it holds (and wherever a chunk ends)
        if len(line) > self.max_bytes:
            return RawRecord(line[: self.max_bytes], offset, self.line_no, True)
        if not line.strip(b" \t\r"):
            return None
        return RawRecord(line, offset, self.line_no)
