"""Cut a byte stream into raw records, with bounded memory (docs/formats.md §5, "Records").

- JSON lines: a record is one line without its ``\\n`` (and one trailing
  ``\\r``); blank lines are not records.
- SSE (dCache storage events): a record is one frame, the lines up to a blank
  line; lines end with CRLF, LF or CR (W3C server-sent events, "Parsing an
  event stream"). A frame without any ``data`` field is not dispatched.
A record longer than the size limit is not buffered: it is reported once as
``too-large`` (with a bounded prefix) and the rest of it is dropped.

The SSE framer here serves both decoders (dCache inotify volume is low, so the
native codec decodes its frames in C but frames them with this class); JSON
lines are framed in C by the native codec and by fastev._ref.framing.LineFramer
in the reference.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# How an SSE stream (or message) begins: a field name or a comment. ``auto`` detection
# reads SSE when the first non-blank bytes start with one of these.
SSE_STARTS = (b"event:", b"data:", b"id:", b":", b"retry:")


@dataclass(slots=True)
class RawRecord:
    data: bytes          # the record (for an oversize record: its first max_bytes bytes)
    offset: int          # byte offset of its first byte in the stream
    line: int            # 1-based line number of its first line
    too_large: bool = False


@dataclass(slots=True)
class SseFrame:
    raw: RawRecord      # the frame's exact bytes, up to (not including) its last line's end
    event: str          # the frame's event type ("" when none was given)
    data: bytes         # data lines joined with LF
    id: bytes | None


def sse_message_frames(value: bytes, max_bytes: int) -> int:
    """Frames the decoders take from one already-framed SSE message (a Kafka value), each a
    record of the pairing window: counted by the framer itself, so the count is exact."""
    return sum(1 for _ in SseFramer(max_bytes).feed(value, final=True))


class SseFramer:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.buf = b""
        self.buf_offset = 0      # stream offset of buf[0]
        self.line_no = 1         # line number of buf[0]
        self.frame = bytearray()  # exact bytes of the frame so far, line ends included
        self.frame_lines: list[bytes] = []
        self.frame_offset = 0
        self.frame_line = 0
        self.last_eol = 0        # length of the last frame line's line end
        self.discarding = False  # inside an oversize frame already reported

    def feed(self, data: bytes, final: bool = False) -> Iterator[SseFrame]:
        buf = self.buf + data if self.buf else data
        pos = 0
        n = len(buf)
        cr = lf = -1  # next CR / LF at or after pos; searched again only once passed (linear time)
        while pos < n:
            if cr != n and cr < pos:
                cr = buf.find(b"\r", pos)
                cr = n if cr < 0 else cr
            if lf != n and lf < pos:
                lf = buf.find(b"\n", pos)
                lf = n if lf < 0 else lf
            if cr == n and lf == n:
                break
            eol = min(cr, lf)
            if buf[eol] == 0x0D:
                if eol + 1 >= n and not final:
                    break  # a CR at the end of the chunk: an LF may follow
                nxt = eol + 2 if eol + 1 < n and buf[eol + 1] == 0x0A else eol + 1
            else:
                nxt = eol + 1
            frame = self._line(self.buf_offset + pos, buf[pos:eol], buf[eol:nxt])
            if frame is not None:
                yield frame
            self.line_no += 1
            pos = nxt
        rest = buf[pos:]
        self.buf_offset += pos
        if not self.discarding and len(self.frame) + len(rest) > self.max_bytes + 1:
            yield self._oversize(rest)
        if self.discarding:
            self.buf_offset += len(rest)
            rest = b""
        self.buf = rest
        if final:
            if self.buf:
                frame = self._line(self.buf_offset, self.buf, b"")
                self.buf_offset += len(self.buf)
                self.buf = b""
                if frame is not None:
                    yield frame
            frame = self._dispatch()
            if frame is not None:
                yield frame
            self.discarding = False

    def _oversize(self, rest: bytes) -> SseFrame:
        if not self.frame:
            self.frame_offset, self.frame_line = self.buf_offset, self.line_no
        prefix = bytes((self.frame + rest)[: self.max_bytes])
        raw = RawRecord(prefix, self.frame_offset, self.frame_line, True)
        self.frame = bytearray()
        self.frame_lines = []
        self.discarding = True
        return SseFrame(raw, "", b"", None)

    def _line(self, offset: int, content: bytes, eol: bytes) -> SseFrame | None:
        if not content:
            if self.discarding:
                self.discarding = False
                return None
            return self._dispatch()
        if self.discarding:
            return None
        if not self.frame:
            self.frame_offset, self.frame_line = offset, self.line_no
        self.frame += content
        self.frame += eol
        self.last_eol = len(eol)
        self.frame_lines.append(content)
        if len(self.frame) - self.last_eol > self.max_bytes:
            return self._oversize(b"")
        return None

    def _dispatch(self) -> SseFrame | None:
        lines = self.frame_lines
        if not lines:
            return None
        raw_bytes = bytes(self.frame[: len(self.frame) - self.last_eol])
        self.frame = bytearray()
        self.frame_lines = []
        event = b""
        data: list[bytes] = []
        frame_id: bytes | None = None
        for content in lines:
            if content[:1] == b":":
                continue  # comment
            name, sep, value = content.partition(b":")
            if sep and value[:1] == b" ":
                value = value[1:]
            if name == b"event":
                event = value
            elif name == b"data":
                data.append(value)
            elif name == b"id" and b"\x00" not in value:
                frame_id = value
        if not data:
            return None  # nothing to dispatch (W3C SSE: empty data buffer)
        raw = RawRecord(raw_bytes, self.frame_offset, self.frame_line)
        return SseFrame(raw, event.decode("utf-8", "replace"), b"\n".join(data), frame_id)
