"""CloudEvents headers: the one C builder (native codec, native producer, fastev._core.cloudevents)
against its reference (fastev._ref.cloudevents), on generated events, garbage and every year.

No broker here: the producer's use of the same C is compared on a real broker in
test_native_producer.py.
"""
from __future__ import annotations

import datetime as dt
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastev._ref import cloudevents as ref
from fastev.avro import confluent_frame
from fastev.errors import ConfigError
from fastev.event import DECODER_NAMES, KINDS
from fastev.kafka.cloudevents import HEAD_LAYOUT, CloudEventHeaders, head_layout, rfc3339_us
from fastev.routes import RouteSpec
from fastev.transcode import Transcoder

from ..conftest import SAMPLES
from .conftest import FILES

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")
native_only = pytest.mark.skipif(NO_EXTENSIONS, reason="native extension disabled by FASTEV_NO_EXTENSIONS")

MIN_US, MAX_US = ref.MIN_US, ref.MAX_US
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CE = CloudEventHeaders()
TAIL = CE.tail


def zigzag(v: int) -> bytes:
    u = (v << 1) ^ (v >> 63) if -(1 << 63) <= v < (1 << 63) else v
    u &= (1 << 64) - 1
    out = bytearray()
    while True:
        if u < 0x80:
            return bytes(out + bytes([u]))
        out.append((u & 0x7F) | 0x80)
        u >>= 7


def string(b: bytes) -> bytes:
    return zigzag(len(b)) + b


def head(event_id: bytes, source: int, kind: int, raw_type: bytes, time_us: int, rest: bytes = b"") -> bytes:
    return string(event_id) + zigzag(source) + zigzag(kind) + string(raw_type) + zigzag(time_us) + rest


def outcome(fn, *args):  # noqa: ANN001, ANN202 - a result or the error's type and text, to compare
    try:
        return "ok", fn(*args)
    except ValueError as exc:
        return type(exc).__name__, str(exc)


def implementations() -> list:
    impls = [ref]
    if not NO_EXTENSIONS:
        from fastev._core import cloudevents as native
        impls.append(native)
    return impls


def test_the_layout_is_derived_from_the_schema() -> None:
    assert HEAD_LAYOUT == "iskSt"  # id, source, kind, raw_type (skipped), time_us
    moved = {"fields": [{"name": "time_us", "type": "long"}, {"name": "n", "type": "int"},
                        {"name": "kind", "type": {"type": "enum", "symbols": ["A"]}},
                        {"name": "source", "type": {"type": "enum", "symbols": ["S"]}},
                        {"name": "blob", "type": "bytes"}, {"name": "id", "type": "string"},
                        {"name": "after", "type": "double"}]}
    assert head_layout(moved) == "tVksSi"
    with pytest.raises(ConfigError, match="'f'.*cannot be skipped"):
        head_layout({"fields": [{"name": "f", "type": "double"}, {"name": "id", "type": "string"}]})
    with pytest.raises(ConfigError, match="'id' is 'long'"):
        head_layout({"fields": [{"name": "id", "type": "long"}]})
    with pytest.raises(ConfigError, match="no field"):
        head_layout({"fields": [{"name": "id", "type": "string"}]})


def test_a_reordered_layout_reads_the_same_head() -> None:
    payload = zigzag(5) + zigzag(1_000_000) + zigzag(2) + string(b"blob") + zigzag(3) + string(b"abc")
    for impl in implementations():
        assert impl.read_event_head(payload, 0, "VtkSsi", 5, 20) == ("abc", 3, 2, 1_000_000)


ids = st.binary(min_size=0, max_size=40) | st.text(max_size=20).map(str.encode)
times = st.integers(MIN_US - 10**12, MAX_US + 10**12) | st.sampled_from([MIN_US, MAX_US, MIN_US - 1, MAX_US + 1,
                                                                          0, -1, -(1 << 63), (1 << 63) - 1])


@given(event_id=ids, source=st.integers(-3, len(DECODER_NAMES) + 2), kind=st.integers(-3, len(KINDS) + 2),
       raw_type=st.binary(max_size=20), time_us=times, rest=st.binary(max_size=8), cut=st.integers(0, 80),
       path=st.sampled_from([None, "", "/p/x", "/p/\u00e9"]))
@settings(max_examples=400, deadline=None)
def test_native_and_reference_headers_are_equal_for_generated_events(
        event_id: bytes, source: int, kind: int, raw_type: bytes, time_us: int, rest: bytes, cut: int,
        path: str | None) -> None:
    payload = head(event_id, source, kind, raw_type, time_us, rest)
    for data in (payload, payload[:cut]):
        each = [outcome(impl.message_headers, data, path, CE.source_uris, CE.types, 0, HEAD_LAYOUT, TAIL)
                for impl in implementations()]
        results = {(k, tuple(v) if isinstance(v, list) else v) for k, v in each}
        assert len(results) == 1, results
    kind_of, value = next(iter(results))
    if kind_of == "ok":  # a readable head gives exactly the fields it was made of
        h = dict(value)
        assert h["ce_time"] == rfc3339_us(time_us)


@given(st.binary(max_size=64), st.integers(-2, 70))
@settings(max_examples=400, deadline=None)
def test_garbage_gives_the_same_clean_error_in_both(garbage: bytes, start: int) -> None:
    results = {outcome(impl.read_event_head, garbage, start, HEAD_LAYOUT, 5, 20) for impl in implementations()}
    assert len(results) == 1, results
    kind_of, value = next(iter(results))
    assert kind_of == "ok" or value.startswith("CloudEvents headers: ")


@pytest.mark.parametrize("layout", ["", "isk", "iskti", "iskSx", "SSSS"])
def test_a_bad_layout_is_refused_by_both(layout: str) -> None:
    payload = head(b"id", 0, 0, b"t", 0)
    for impl in implementations():
        with pytest.raises(ValueError, match="header layout is invalid"):
            impl.read_event_head(payload, 0, layout, 5, 20)


@native_only
@pytest.mark.parametrize("source", ["dcache-billing", "gpfs-audit", "s3"])
def test_codec_route_headers_equal_the_reference(source: str) -> None:
    for framing, start in (("avro", 0), ("confluent", 5)):
        batch = Transcoder(source, [RouteSpec("all")], framing=framing, schema_id=3).feed(
            (SAMPLES / FILES[source]).read_bytes(), final=True)
        native = batch.ce_headers("all", CE.source_uris, CE.types, start, HEAD_LAYOUT, TAIL)
        assert native == ref.route_headers(batch.payloads("all"), batch.paths("all"), CE.source_uris, CE.types,
                                           start, HEAD_LAYOUT, TAIL)
        assert len(native) == batch.count("all") > 0


@native_only
@pytest.mark.parametrize("start", [0, 1, 3, 4, 6, 10_000, -1])
def test_a_confluent_batch_read_with_the_wrong_start_is_a_clean_error(start: int) -> None:
    """Reading Confluent-framed payloads as plain Avro (start=0) used to hand out an arbitrary
    object as ce_source; now every bad offset is a ValueError (the reference's), never a value."""
    batch = Transcoder("s3", [RouteSpec("all")], framing="confluent", schema_id=(1 << 31) - 1).feed(
        (SAMPLES / FILES["s3"]).read_bytes(), final=True)
    payloads, paths = batch.payloads("all"), batch.paths("all")
    expected = outcome(ref.route_headers, payloads, paths, CE.source_uris, CE.types, start, HEAD_LAYOUT, TAIL)
    got = outcome(batch.ce_headers, "all", CE.source_uris, CE.types, start, HEAD_LAYOUT, TAIL)
    assert got == expected
    if start in (0, 10_000, -1):
        assert got[0] == "ValueError" and got[1].startswith("CloudEvents headers: ")
    # fewer sources than the payloads name: a clean error, never a read past the tuple
    short = outcome(batch.ce_headers, "all", (), CE.types, 5, HEAD_LAYOUT, TAIL)
    assert short == ("ValueError", "CloudEvents headers: the source ordinal is out of range (message 0)")


def test_confluent_framing_is_skipped() -> None:
    payload = head(b"abc", 4, 1, b"t", 123)
    for impl in implementations():
        assert impl.read_event_head(confluent_frame(7, payload), 5, HEAD_LAYOUT, 5, 20) == ("abc", 4, 1, 123)


# -- ce_time ------------------------------------------------------------------------------------

def expected_time(us: int) -> str:
    return (EPOCH + dt.timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ").rjust(27, "0")


EDGES = [MIN_US, MIN_US + 1, MAX_US, MAX_US - 1, 0, -1, 1, 951_782_400_000_000 - 1,  # 2000-02-29 eve
         -62_162_035_200_000_000 + 86_400_000_000 * 366,                              # around year 1-2
         -62_135_596_800_000_000 + 59 * 86_400_000_000,                              # 0001-03-01
         253_370_764_800_000_000]                                                     # 9999-01-01


@pytest.mark.parametrize("us", EDGES)
def test_rfc3339_edges_match_datetime_in_both(us: int) -> None:
    for impl in implementations():
        assert impl.rfc3339_us(us) == expected_time(us)


@given(st.integers(MIN_US, MAX_US))
@settings(max_examples=2000, deadline=None)
def test_rfc3339_over_years_0001_to_9999_matches_datetime(us: int) -> None:
    want = expected_time(us)
    for impl in implementations():
        assert impl.rfc3339_us(us) == want


def test_every_day_of_years_0001_to_9999_in_both() -> None:
    """Every 97th day across the whole range (all months, leap rules and era boundaries)."""
    day = 86_400_000_000
    for us in range(MIN_US, MAX_US, 97 * day + 3_723_000_001):
        want = expected_time(us)
        for impl in implementations():
            assert impl.rfc3339_us(us) == want


@pytest.mark.parametrize("us", [MIN_US - 1, MAX_US + 1, -(1 << 63), (1 << 63) - 1,
                                -62_167_219_200_000_000, 253_402_300_800_000_000])
def test_times_outside_years_0001_to_9999_are_refused(us: int) -> None:
    for impl in implementations():
        with pytest.raises(ValueError, match="outside years 0001-9999"):
            impl.rfc3339_us(us)
    payload = head(b"id", 0, 0, b"t", us)
    for impl in implementations():
        with pytest.raises(ValueError, match="outside years 0001-9999"):
            impl.message_headers(payload, None, CE.source_uris, CE.types, 0, HEAD_LAYOUT, TAIL)


def test_the_reference_time_cache_is_consistent_across_threads() -> None:
    """The one-entry cache is swapped as one tuple: no thread sees one second's date with
    another's microseconds (the old two-field list could be read half-updated)."""
    bad: list[tuple[int, str]] = []
    seconds = [s * 1_000_000 for s in (0, 86_399, 951_782_399, 1_770_797_645, -1)]

    def work(k: int) -> None:
        for i in range(4000):
            us = seconds[(i + k) % len(seconds)] + i
            got = ref.rfc3339_us(us)
            if got != expected_time(us):
                bad.append((us, got))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []


@native_only
def test_both_builders_have_the_same_reasons() -> None:
    from fastev._core import cloudevents as native

    assert native.REASONS == ref.REASONS
