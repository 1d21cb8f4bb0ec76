"""Reference Decoder: raw bytes -> event dicts + DecodeErrors, for every source.

Checks run in the order documented in errors.REASONS; the native decoder
(``fastev._core.codec``) follows the same order so both report the same error.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..batch import Batch, DecodeStats
from ..errors import DecodeError
from ..event import DECODER_NAMES, SOURCES
from ..framing import SSE_STARTS as _SSE_STARTS
from ..inotify import load_watches
from ..options import (
    DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_PAIRING_WINDOW,
    MAX_ERRORS_PER_MESSAGE,
    SOURCE_NAMES,
    check_decoder_options,
)
from ..source_trust import check_path_prefix, prefixed_path
from .billing import READ_FIELDS as BILLING_READ
from .billing import decode_billing
from .eventid import event_id, message_digest
from .fields import Reject, Skip, check_duplicates
from .framing import LineFramer, RawRecord, SseFrame, SseFramer
from .gpfs import AUDIT_READ, WATCH_READ, decode_gpfs_audit, decode_gpfs_watch
from .inotify_flags import Loss, RenamePairer
from .inotify_sse import DATA_READ, SYSTEM_READ, decode_inotify, decode_system
from .jsonparse import JObj, JsonError, parse
from .s3 import MESSAGE_READ, RECORD_READ, decode_s3_record, s3_records

__all__ = ("DEFAULT_MAX_RECORD_BYTES", "SOURCE_NAMES", "Batch", "DecodeStats", "Decoder", "decode_all")
_FAILED = object()
_JSON_READ = {"dcache-billing": BILLING_READ, "gpfs-audit": AUDIT_READ, "gpfs-watch": WATCH_READ}


def detect_source(msg: JObj) -> str | None:
    """Auto detection from the top-level names each format always carries."""
    if "Records" in msg or "EventName" in msg:
        return "s3"
    if "LWE_JSON" in msg:
        return "gpfs-audit"
    if "WF_JSON" in msg:
        return "gpfs-watch"
    if "msgType" in msg:
        return "dcache-billing"
    return None


@contextmanager
def reentry_guard(owner: Any, name: str) -> Iterator[None]:
    """Refuse a feed of ``owner`` from user code its running feed calls (an offsets iterator, a
    route's takes()), with the native core's error: that core cannot survive one."""
    if owner._busy:
        raise RuntimeError(f"{name}: feed called again while a feed of the same object is running")
    owner._busy = True
    try:
        yield
    finally:
        owner._busy = False


class Decoder:
    """Stateful decoder for one input stream (rename pairing and partial lines span feeds)."""

    def __init__(self, source: str, *, inotify_watches: dict[str, str] | None = None,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 pairing_window: int = DEFAULT_PAIRING_WINDOW, now_us: int | None = None,
                 path_prefix: str = "") -> None:
        check_decoder_options(source, SOURCE_NAMES, max_record_bytes, pairing_window)
        self.source = source
        self.path_prefix = check_path_prefix(path_prefix)  # docs/formats.md §6
        self.watches = load_watches(inotify_watches)
        self.max_record_bytes = max_record_bytes
        self.now_us = now_us
        self.pairer = RenamePairer(pairing_window)
        self.index = 0
        self.stream_sse: bool | None = True if source == "dcache-inotify" else (
            False if source != "auto" else None)
        self.lines = LineFramer(max_record_bytes)
        self.sse = SseFramer(max_record_bytes)
        self._busy = False

    # -- entry points -------------------------------------------------------
    def feed(self, data: bytes, final: bool = False) -> Batch:
        """A chunk of a byte stream (JSON lines, or SSE text for dcache-inotify)."""
        with reentry_guard(self, "Decoder"):
            return self._feed(data, final)

    def _feed(self, data: bytes, final: bool) -> Batch:
        out = Batch()
        if self.stream_sse is None:
            head = data.lstrip(b" \t\r\n")
            if not head and not final:
                self.lines.buf += data  # undecided: keep it
                return out
            self.stream_sse = head.startswith(_SSE_STARTS)
            if self.stream_sse:
                data, self.lines.buf = self.lines.buf + data, b""
        now = self._now()
        if self.stream_sse:
            for frame in self.sse.feed(data, final):
                self._frame(frame, now, out)
        else:
            for rec in self.lines.feed(data, final):
                self._json_record(rec, now, out)
        if final:
            self._finish(out)
        return out

    def feed_records(self, records: Iterable[bytes], offsets: Iterable[int] | None = None) -> Batch:
        """Already-framed records (e.g. Kafka message values); one record per item."""
        with reentry_guard(self, "Decoder"):
            return self._feed_records(records, offsets)

    def _feed_records(self, records: Iterable[bytes], offsets: Iterable[int] | None) -> Batch:
        out = Batch()
        now = self._now()
        offs = iter(offsets) if offsets is not None else None
        for raw in records:
            offset = next(offs) if offs is not None else -1
            if self.source == "dcache-inotify" or (self.source == "auto" and raw.lstrip().startswith(_SSE_STARTS)):
                framer = SseFramer(self.max_record_bytes)
                for frame in framer.feed(raw, final=True):
                    frame.raw.offset = offset
                    frame.raw.line = 0
                    self._frame(frame, now, out)
                continue
            if len(raw) > self.max_record_bytes:
                self._json_record(RawRecord(raw[: self.max_record_bytes], offset, 0, True), now, out)
            else:
                self._json_record(RawRecord(raw, offset, 0), now, out)
        return out

    def finish(self) -> Batch:
        """End of input: flush a partial last record and unpaired moves."""
        return self.feed(b"", final=True)

    # -- internals ----------------------------------------------------------
    def _now(self) -> int:
        return self.now_us if self.now_us is not None else time.time_ns() // 1000

    def _finish(self, out: Batch) -> None:
        for ev in self.pairer.finish():
            self._emit(ev, out)

    def _emit(self, ev: dict[str, Any], out: Batch) -> None:
        if self.path_prefix:  # at emission: a RENAME's old path is its FROM's unprefixed path until here
            ev["path"] = prefixed_path(self.path_prefix, ev["path"])
            if ev["old_path"] is not None:
                ev["old_path"] = prefixed_path(self.path_prefix, ev["old_path"])
        out.events.append(ev)
        out.stats.decoded += 1

    def _reject(self, rec: RawRecord, index: int, source: str, reason: str, field: str | None,
                out: Batch) -> None:
        out.errors.append(DecodeError(reason, field, index=index, offset=rec.offset, line=rec.line,
                                      source=source, raw=rec.data))
        out.stats.rejected += 1

    def _open(self, rec: RawRecord, payload: bytes, index: int, source: str, out: Batch) -> Any:
        """Size, UTF-8, JSON and top-level checks shared by every source.

        Returns the parsed object, or _FAILED after reporting the error.
        """
        if rec.too_large:
            self._reject(rec, index, source, "too-large", None, out)
            return _FAILED
        try:
            rec.data.decode("utf-8")
            value = parse(payload.decode("utf-8"))
        except UnicodeDecodeError:
            self._reject(rec, index, source, "invalid-utf8", None, out)
            return _FAILED
        except JsonError as e:
            self._reject(rec, index, source, e.reason, None, out)
            return _FAILED
        if not isinstance(value, JObj):
            self._reject(rec, index, source, "not-an-object", None, out)
            return _FAILED
        return value

    def _outcome(self, rec: RawRecord, index: int, source: str, out: Batch, decode: Any, *args: Any) -> Any:
        """decode(*args), with its Reject / Skip / Loss outcome reported; _FAILED when it had one."""
        try:
            return decode(*args)
        except Reject as r:
            self._reject(rec, index, source, r.reason, r.field, out)
        except Skip:
            out.stats.skipped += 1
        except Loss:
            out.stats.loss += 1
        return _FAILED

    def _json_record(self, rec: RawRecord, now: int, out: Batch) -> None:
        index = self.index
        self.index += 1
        out.stats.records += 1
        for expired in self.pairer.expire(index):
            self._emit(expired, out)
        source = self.source
        value = self._open(rec, rec.data, index, source, out)
        if value is _FAILED:
            return
        if source == "auto":
            detected = detect_source(value)
            if detected is None:
                self._reject(rec, index, source, "unknown-format", None, out)
                return
            source = detected
        ordinal = DECODER_NAMES.index(source)
        if source == "s3":
            self._outcome(rec, index, source, out, self._s3, rec, value, index, ordinal, out)
            return
        res = self._outcome(rec, index, source, out, _decode_json, source, value)
        if res is _FAILED:
            return
        ev, cookie = res
        if ev is None:
            out.stats.skipped += 1
            return
        ev["id"] = event_id(ordinal, rec.data, 0)
        for e in self.pairer.add(index, ev, cookie):
            self._emit(e, out)

    def _s3(self, rec: RawRecord, msg: JObj, index: int, ordinal: int, out: Batch) -> None:
        """Each Records[i] is one event. Every error of the message shares its one raw bytes
        object; past MAX_ERRORS_PER_MESSAGE the rest are summarised in one final error."""
        check_duplicates(msg, MESSAGE_READ)
        records = s3_records(msg)
        if not records:
            out.stats.skipped += 1
            return
        digest = message_digest(ordinal, rec.data)   # hashed once: record ids hash only this
        summary = _Summary()
        for i, item in enumerate(records):
            prefix = f"Records[{i}]"
            try:
                if isinstance(item, JObj):
                    check_duplicates(item, RECORD_READ, prefix)
                ev = decode_s3_record(item, prefix)
            except Reject as r:
                if summary.count(i):
                    self._reject(rec, index, "s3", r.reason, r.field, out)
                else:
                    out.stats.rejected += 1
                continue
            ev["id"] = event_id(ordinal, digest, i)
            self._emit(ev, out)
        if summary.over:
            out.errors.append(DecodeError("too-many-errors", summary.field(), index=index, offset=rec.offset,
                                          line=rec.line, source="s3", raw=rec.data))

    def _frame(self, frame: SseFrame, now: int, out: Batch) -> None:
        rec = frame.raw
        index = self.index
        self.index += 1
        out.stats.records += 1
        for ev in self.pairer.expire(index):
            self._emit(ev, out)
        source = "dcache-inotify"
        if not rec.too_large and _valid_utf8(rec.data) and frame.event not in ("inotify", "SYSTEM"):
            out.stats.skipped += 1  # metronome, or another channel's type
            return
        value = self._open(rec, frame.data, index, source, out)
        if value is _FAILED:
            return
        sse_id = frame.id.decode("utf-8") if frame.id else None
        res = self._outcome(rec, index, source, out, _decode_frame, frame.event, value, self.watches, sse_id, now)
        if res is _FAILED:
            return
        if res is None:
            out.stats.skipped += 1
            return
        ev, cookie = res
        ev["id"] = event_id(SOURCES.index("DCACHE_INOTIFY"), rec.data, 0)
        for e in self.pairer.add(index, ev, cookie):
            self._emit(e, out)


class _Summary:
    """Counts one message's rejected items; the first MAX_ERRORS_PER_MESSAGE are reported."""

    __slots__ = ("reported", "over", "first", "last")

    def __init__(self) -> None:
        self.reported = self.over = 0
        self.first = self.last = -1

    def count(self, i: int) -> bool:
        """True: report item i's error; False: it only counts towards the summary."""
        if self.reported < MAX_ERRORS_PER_MESSAGE:
            self.reported += 1
            return True
        if not self.over:
            self.first = i
        self.over += 1
        self.last = i
        return False

    def field(self) -> str:
        return f"Records[{self.first}..{self.last}]: {self.over} more rejected"


def _decode_json(source: str, value: JObj) -> tuple[dict[str, Any] | None, Any]:
    """One dCache billing or GPFS record: (event or None for skip, rename cookie)."""
    check_duplicates(value, _JSON_READ[source])
    if source == "dcache-billing":
        return decode_billing(value), None
    if source == "gpfs-audit":
        return decode_gpfs_audit(value), None
    res = decode_gpfs_watch(value)
    return res if res is not None else (None, None)


def _decode_frame(event: str, value: JObj, watches: Any, sse_id: str | None,
                  now: int) -> tuple[dict[str, Any], Any] | None:
    """One dCache storage-event frame: (event, cookie), or None when it is not an event."""
    if event == "SYSTEM":
        check_duplicates(value, SYSTEM_READ)
        decode_system(value)
        return None
    check_duplicates(value, DATA_READ)
    return decode_inotify(value, watches, sse_id, now)


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_all(data: bytes, source: str, **options: Any) -> Batch:
    """Decode a whole input at once."""
    dec = Decoder(source, **options)
    out = dec.feed(data)
    tail = dec.finish()
    out.events += tail.events
    out.errors += tail.errors
    out.stats.add(tail.stats)
    return out
