"""Timestamps to UTC microseconds, without datetime (the native core does the same arithmetic).

Two shapes (docs/formats.md §3):
- ISO-8601 as dCache and S3 write it: ``2026-02-11T09:14:05.31+01:00``,
  ``...Z``; fraction of 0 to 9 digits; offset ``Z`` or ``±HH:MM``.
- GPFS: ``2025-07-28_16:53:11.869+0100``; underscore between date and time,
  offset ``±HHMM`` (``±HH:MM`` and ``Z`` are accepted too).
Digits beyond the microsecond are truncated. The UTC instant must fall in the
years 0001-9999 (so every accepted time has an RFC 3339 form: ``0000-01-01T00:00:00+23:59``
is in year 0 in UTC and is refused). Anything else returns None and the decoder
rejects the record with ``bad-time``.
"""
from __future__ import annotations

import re

_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:(Z)|([+-])([0-9]{2}):([0-9]{2}))\Z"
)
_GPFS = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})_([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:(Z)|([+-])([0-9]{2}):?([0-9]{2}))\Z"
)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Accepted UTC instants, in seconds since the epoch: 0001-01-01T00:00:00Z <= t < 10000-01-01T00:00:00Z.
MIN_SECONDS = -719162 * 86400
END_SECONDS = 2932897 * 86400


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 (H. Hinnant's algorithm, proleptic Gregorian)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _to_us(m: re.Match[str]) -> int | None:
    y, mo, d, hh, mi, ss = (int(m.group(k)) for k in range(1, 7))
    if not 1 <= mo <= 12 or d < 1 or hh > 23 or mi > 59 or ss > 59:
        return None
    dim = 29 if mo == 2 and _is_leap(y) else _DAYS_IN_MONTH[mo - 1]
    if d > dim:
        return None
    frac = m.group(7) or ""
    us = int((frac + "000000")[:6])
    offset_s = 0
    if m.group(8) is None:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        offset_s = (oh * 3600 + om * 60) * (1 if m.group(9) == "+" else -1)
    secs = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - offset_s
    if not MIN_SECONDS <= secs < END_SECONDS:
        return None
    return secs * 1_000_000 + us


def parse_iso8601(text: str) -> int | None:
    m = _ISO.match(text)
    return _to_us(m) if m else None


def parse_gpfs(text: str) -> int | None:
    m = _GPFS.match(text)
    return _to_us(m) if m else None
