"""Native codec core vs the pure-Python reference on the shared samples, plus murmur3."""
from __future__ import annotations

import random

import mmh3
import pytest

from fastev._ref import decoder as ref
from fastev._ref import eventid as ref_eventid
from fastev._ref import transcoder as ref_tc

from ._support import NOW_US, SAMPLES, make_routes, native_codec, run_decoder, run_records, run_transcoder, watches

codec = native_codec()

CASES = [
    ("dcache-billing.jsonl", "dcache-billing"),
    ("gpfs-audit.jsonl", "gpfs-audit"),
    ("gpfs-watch.jsonl", "gpfs-watch"),
    ("s3.jsonl", "s3"),
    ("dcache-inotify.sse", "dcache-inotify"),
]
OPTS = {"inotify_watches": watches(), "now_us": NOW_US}


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _splits(data: bytes, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    cuts = sorted(rnd.sample(range(len(data) + 1), min(12, len(data) + 1)))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)], strict=False)]


@pytest.mark.parametrize("name,source", CASES)
@pytest.mark.parametrize("auto", [False, True])
def test_samples_decode_identically(name: str, source: str, auto: bool) -> None:
    data = _sample(name)
    src = "auto" if auto else source
    expected = run_decoder(ref, src, [data], **OPTS)
    assert run_decoder(codec, src, [data], **OPTS) == expected
    for seed in range(5):
        chunks = _splits(data, seed)
        assert run_decoder(codec, src, chunks, **OPTS) == run_decoder(ref, src, chunks, **OPTS)


@pytest.mark.parametrize("name,source", CASES)
def test_samples_as_records(name: str, source: str) -> None:
    data = _sample(name)
    records = data.split(b"\n\n") if source == "dcache-inotify" else data.splitlines()
    for window in (1, 2, 128):
        opts = dict(OPTS, pairing_window=window)
        assert run_records(codec, source, records, **opts) == run_records(ref, source, records, **opts)


@pytest.mark.parametrize("name,source", CASES)
@pytest.mark.parametrize("framing", ["avro", "confluent"])
def test_samples_transcode_identically(name: str, source: str, framing: str) -> None:
    data = _sample(name)
    routes = make_routes()
    chunks = _splits(data, 7)
    kw = dict(OPTS, framing=framing, schema_id=42)
    got = run_transcoder(codec.Transcoder, source, routes, chunks, **kw)
    assert got == run_transcoder(ref_tc.Transcoder, source, routes, chunks, **kw)
    assert sum(len(r[0][0][2]) for r in got) > 0   # the "all" route saw events


def test_transcoder_validates_like_the_reference() -> None:
    from fastev.errors import ConfigError

    routes = make_routes()
    with pytest.raises(ConfigError, match="framing"):
        codec.Transcoder("s3", routes, framing="json")
    with pytest.raises(ConfigError, match="unique"):
        codec.Transcoder("s3", routes + routes[:1])
    with pytest.raises(ConfigError, match="unknown decoder"):
        codec.Decoder("nfs")
    with pytest.raises(ConfigError, match="positive"):
        codec.Decoder("s3", max_record_bytes=0)
    for cls in (codec.Transcoder, ref_tc.Transcoder):  # checked up front, before any input is consumed
        for bad in (-1, 2**31, "7"):
            with pytest.raises(ConfigError, match="schema_id"):
                cls("s3", routes, framing="confluent", schema_id=bad)


def test_route_batch_unknown_route_is_a_key_error() -> None:
    rb = codec.Transcoder("s3", make_routes()).feed(_sample("s3.jsonl"))
    with pytest.raises(KeyError):
        rb.count("nope")


@pytest.mark.parametrize("n", list(range(0, 40)) + [100, 1000, 4097])
def test_murmur3_matches_mmh3(n: int) -> None:
    rnd = random.Random(n)
    data = bytes(rnd.getrandbits(8) for _ in range(n))
    for seed in (0, 1, 2**24 * 4 + 3, 2**32 - 1, rnd.getrandbits(32)):
        h1, h2 = codec.murmur3_x64_128(data, seed)
        assert mmh3.hash128(data, seed, x64arch=True, signed=False) == (h2 << 64) | h1
        assert (h1, h2) == ref_eventid.murmur3_x64_128(data, seed)


def test_event_id_matches_reference() -> None:
    for ordinal in range(5):
        for index in (0, 1, 2**24 + 5):
            raw = b'{"x": %d}' % index
            assert codec.event_id(ordinal, raw, index) == ref_eventid.event_id(ordinal, raw, index)
