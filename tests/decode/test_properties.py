"""Property tests of the building blocks against independent oracles (json, datetime, mmh3)."""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import mmh3
from hypothesis import given, settings
from hypothesis import strategies as st

from fastev._ref.eventid import event_id, murmur3_x64_128
from fastev._ref.jsonparse import JNum, JObj, JsonError, parse
from fastev._ref.timeparse import parse_gpfs, parse_iso8601
from fastev.paths import canonical_path

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def plain(v: object) -> object:
    """Our parse result in json.loads terms."""
    if isinstance(v, JNum):
        return json.loads(v)
    if isinstance(v, JObj):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_json_parse_agrees_with_stdlib(value: object, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert plain(parse(text)) == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_json_parse_rejects_what_stdlib_rejects(text: str) -> None:
    try:
        expected = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (ValueError, RecursionError):
        expected = None
    try:
        got = plain(parse(text))
    except JsonError:
        got = None
    if expected is None:
        assert got is None
    elif isinstance(expected, float) and math.isnan(expected):
        raise AssertionError("NaN accepted")
    elif "\\ud" not in text.lower():  # lone surrogates: stdlib accepts, we reject on purpose
        assert got == expected


def test_json_numbers_keep_their_literal() -> None:
    v = parse('{"a": 3.97E9, "b": -0, "c": 123456789012345678901234567890}')
    assert [str(v[k]) for k in "abc"] == ["3.97E9", "-0", "123456789012345678901234567890"]


def test_json_duplicates_are_recorded_with_position() -> None:
    text = '{"a": 1, "b": {"x": 1, "x": 2}, "a": 3}'
    v = parse(text)
    assert v["a"] == "3" and v.dups == {"a": text.rindex('"a"')}
    assert v["b"].dups == {"x": text.rindex('"x"')}


datetimes = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31))
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59)


@settings(max_examples=300, deadline=None)
@given(datetimes, offsets, st.integers(0, 9), st.booleans())
def test_iso8601_agrees_with_datetime(dt: datetime, offset_min: int, digits: int, zulu: bool) -> None:
    tz = UTC if zulu else timezone(timedelta(minutes=offset_min))
    aware = dt.replace(tzinfo=tz)
    frac = f"{dt.microsecond:06d}{'789'}"[:digits]
    off = "Z" if zulu else aware.strftime("%z")[:3] + ":" + aware.strftime("%z")[3:]
    text = dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if digits else "") + off
    expected_us = int(frac.ljust(6, "0")[:6]) if digits else 0
    base = aware.replace(microsecond=0)
    want = int((base - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000 + expected_us
    assert parse_iso8601(text) == want
    gpfs = text.replace("T", "_").replace("Z", "+0000")
    gpfs = gpfs[:-3] + gpfs[-2:] if not zulu else gpfs
    assert parse_gpfs(gpfs) == want


def test_bad_times() -> None:
    for text in ("2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:60Z",
                 "2026-01-01 00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+0100",
                 "2026-01-01T00:00:00.1234567890Z", "٢٠٢٦-01-01T00:00:00Z", "2026-01-01T00:00:00+24:00"):
        assert parse_iso8601(text) is None, text
    assert parse_gpfs("2026-01-01T00:00:00.000+0100") is None


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=100), st.integers(0, 2**32 - 1))
def test_murmur3_agrees_with_mmh3(data: bytes, seed: int) -> None:
    h1, h2 = murmur3_x64_128(data, seed)
    assert mmh3.hash128(data, seed, True, signed=False) == (h2 << 64) | h1


def test_event_id_shape() -> None:
    a = event_id(0, b"x", 0)
    assert len(a) == 32 and int(a, 16) >= 0
    assert len({a, event_id(1, b"x", 0), event_id(0, b"x", 1), event_id(0, b"y", 0)}) == 4


path_parts = st.sampled_from(["a", "ab", "", ".", "..", "é", "e\u0301", "а", "x\x00", "...", " "])


@settings(max_examples=500, deadline=None)
@given(st.lists(path_parts, max_size=6), st.booleans(), st.booleans())
def test_canonical_path_rules(parts: list[str], leading: bool, trailing: bool) -> None:
    p = ("/" if leading else "") + "/".join(parts) + ("/" if trailing else "")
    c = canonical_path(p)
    ok = p.startswith("/") and "\x00" not in p and not any(x in (".", "..") for x in p.split("/"))
    assert (c is not None) == ok
    if c is not None:
        assert c.startswith("/") and "//" not in c and (c == "/" or not c.endswith("/"))
        assert canonical_path(c) == c
        assert [x for x in c.split("/") if x] == [x for x in p.split("/") if x]
