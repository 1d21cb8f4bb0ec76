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


def _mmh3_id(data: bytes, seed: int) -> str:
    h = mmh3.hash128(data, seed, x64arch=True, signed=False)
    return f"{h & (2**64 - 1):016x}{h >> 64:016x}"


@pytest.mark.parametrize("pad", [0, 1000, 4097])
def test_native_ids_match_mmh3(pad: int) -> None:
    """The native murmur3 through the decoder's ids (every tail length 0..15), against mmh3."""
    base = b'{"msgType": "remove", "date": "2026-02-11T09:14:05Z", "billingPath": "/p"' + b" " * pad
    lines = [base + b" " * k + b"}" for k in range(16)]
    events = codec.Decoder("dcache-billing").feed(b"\n".join(lines), final=True).events
    assert [e["id"] for e in events] == [_mmh3_id(raw, 0) for raw in lines]


def test_native_s3_ids_match_mmh3() -> None:
    rec = b'{"eventName": "ObjectCreated:Put", "eventTime": "2026-02-11T09:14:05Z", ' \
          b'"s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}'
    msg = b'{"Records": [' + b", ".join([rec] * 3) + b"]}"
    seed = 4 << 24   # S3's ordinal * 2**24
    h = mmh3.hash128(msg, seed, x64arch=True, signed=False)
    digest = (h & (2**64 - 1)).to_bytes(8, "little") + (h >> 64).to_bytes(8, "little")
    events = codec.Decoder("s3").feed_records([msg]).events
    assert [e["id"] for e in events] == [_mmh3_id(digest, seed + i) for i in range(3)]
    assert [e["id"] for e in events] == [ref_eventid.event_id(4, digest, i) for i in range(3)]


def test_no_test_entry_points_in_the_production_module() -> None:
    public = {n for n in dir(codec) if not n.startswith("_")}
    assert not public & {"murmur3_x64_128", "event_id"}
    assert set(codec.__all__) == {"Decoder", "RouteBatch", "Transcoder"}
