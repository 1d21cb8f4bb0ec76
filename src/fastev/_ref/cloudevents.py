"""Reference CloudEvents binary-mode headers: the oracle of the C builder (fastev/_core/cloudevents.pxd).

Reads the head of an encoded ``org.fastev.v1.StorageEvent`` per a *layout* (one letter per
leading schema field, see the .pxd; derived from the schema by fastev.kafka.cloudevents) and
formats ``ce_time`` as RFC 3339. Same results and the same error texts as the C builder:
every problem is a ValueError naming one of ``REASONS``, never an IndexError or a wrong value.
"""
from __future__ import annotations

import operator
from collections.abc import Sequence

__all__ = ("REASONS", "MIN_US", "MAX_US", "read_event_head", "rfc3339_us", "message_headers", "route_headers")

Header = tuple[str, "str | bytes | None"]

# By code, as fe_ce_reasons in the .pxd.
REASONS = (
    "ok",
    "the payload ends inside its leading fields",
    "an Avro long is longer than 10 bytes",
    "a string length is negative or runs past the payload",
    "ce_id is empty or not UTF-8",
    "the source ordinal is out of range",
    "the kind ordinal is out of range",
    "time_us is outside years 0001-9999",
    "the header layout is invalid",
)
(_OK, _TRUNCATED, _LONG_VARINT, _BAD_LENGTH, _BAD_ID, _BAD_SOURCE, _BAD_KIND, _BAD_TIME,
 _BAD_LAYOUT) = range(len(REASONS))
MIN_US = -62135596800_000000   # 0001-01-01T00:00:00Z
MAX_US = 253402300799_999999   # 9999-12-31T23:59:59.999999Z


class _Bad(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _varint(b: bytes, pos: int) -> tuple[int, int]:
    """Avro zig-zag long at ``pos`` (at most 10 bytes, wrapping to 64 bits, as in C)."""
    v = 0
    for shift in range(0, 70, 7):
        if pos >= len(b):
            raise _Bad(_TRUNCATED)
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        if c < 0x80:
            v &= 0xFFFF_FFFF_FFFF_FFFF
            return (v >> 1) ^ -(v & 1), pos
    raise _Bad(_LONG_VARINT)


def _check_layout(layout: str) -> None:
    roles = [c for c in layout if c not in "SV"]
    if sorted(roles) != sorted("iskt"):
        raise _Bad(_BAD_LAYOUT)


def _head(payload: bytes, start: int, layout: str, nsrc: int, nkind: int) -> tuple[str, int, int, int]:
    _check_layout(layout)
    if start < 0 or start > len(payload):
        raise _Bad(_TRUNCATED)
    pos = start
    event_id, source, kind, time_us = "", 0, 0, 0
    for field in layout:
        v, pos = _varint(payload, pos)
        if field in "iS":
            if v < 0 or v > len(payload) - pos:
                raise _Bad(_BAD_LENGTH)
            if field == "i":
                try:
                    event_id = payload[pos:pos + v].decode("utf-8")
                except UnicodeDecodeError:
                    raise _Bad(_BAD_ID) from None
                if not event_id:
                    raise _Bad(_BAD_ID)
            pos += v
        elif field == "s":
            if not 0 <= v < nsrc:
                raise _Bad(_BAD_SOURCE)
            source = v
        elif field == "k":
            if not 0 <= v < nkind:
                raise _Bad(_BAD_KIND)
            kind = v
        elif field == "t":
            if not MIN_US <= v <= MAX_US:
                raise _Bad(_BAD_TIME)
            time_us = v
    return event_id, source, kind, time_us


def read_event_head(payload: bytes, start: int, layout: str, nsrc: int, nkind: int) -> tuple[str, int, int, int]:
    """(id, source ordinal, kind ordinal, time_us) of an encoded event; ``start`` skips framing."""
    try:
        return _head(bytes(payload), start, layout, nsrc, nkind)
    except _Bad as bad:
        raise ValueError(f"CloudEvents headers: {REASONS[bad.code]}") from None


def _civil_from_days(days: int) -> tuple[int, int, int]:
    # Howard Hinnant's civil_from_days with Python's floor division throughout (no truncation
    # adjustment: that one is for C's truncating division and shifted days before 0000-03-01).
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


# One-entry cache (events come in bursts within a second), swapped as one immutable tuple: a
# thread reads either the old or the new pair, never one field of each.
_last: tuple[int, str] = (-1 << 70, "")


def rfc3339_us(time_us: int) -> str:
    """UTC microseconds -> ``2026-02-11T08:14:05.310000Z``; ValueError outside years 0001-9999."""
    global _last
    time_us = operator.index(time_us)  # TypeError for anything but an integer
    if not MIN_US <= time_us <= MAX_US:
        raise ValueError(f"CloudEvents headers: {REASONS[_BAD_TIME]}")
    seconds, micros = divmod(time_us, 1_000_000)
    last = _last
    if seconds == last[0]:
        return f"{last[1]}{micros:06d}Z"
    days, sod = divmod(seconds, 86400)
    y, m, d = _civil_from_days(days)
    h, rem = divmod(sod, 3600)
    prefix = f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{rem // 60:02d}:{rem % 60:02d}."
    _last = (seconds, prefix)
    return f"{prefix}{micros:06d}Z"


def message_headers(payload: bytes, path: str | None, source_uris: Sequence[str], types: Sequence[str],
                    start: int, layout: str, tail: Sequence[Header]) -> list[Header]:
    """The CloudEvents headers of one message: specversion, id, source, type, time, subject
    (only when ``path`` is non-empty: CloudEvents forbids an empty one), then ``tail``."""
    event_id, source, kind, time_us = read_event_head(payload, start, layout, len(source_uris), len(types))
    headers: list[Header] = [("ce_specversion", "1.0"), ("ce_id", event_id), ("ce_source", source_uris[source]),
                             ("ce_type", types[kind]), ("ce_time", rfc3339_us(time_us))]
    if path:
        headers.append(("ce_subject", path))
    headers.extend(tail)
    return headers


def route_headers(payloads: Sequence[bytes], paths: Sequence[str], source_uris: Sequence[str],
                  types: Sequence[str], start: int, layout: str, tail: Sequence[Header]) -> list[list[Header]]:
    """``message_headers`` of every message; a bad one raises naming its index."""
    if len(payloads) != len(paths):
        raise ValueError(f"route_headers: {len(payloads)} payloads, {len(paths)} paths")
    out = []
    for i, (payload, path) in enumerate(zip(payloads, paths, strict=True)):  # lengths checked above
        try:
            out.append(message_headers(payload, path, source_uris, types, start, layout, tail))
        except ValueError as exc:
            raise ValueError(f"{exc} (message {i})") from None
    return out
