"""KafkaPublisher against the real broker: keys, CloudEvents headers, tokens, backpressure, errors."""
from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import fastavro
import pytest

from fastev import RouteSpec, Transcoder, decode, schema_text
from fastev.errors import ConfigError, DecodeError, DeliveryError
from fastev.kafka import (
    CloudEventHeaders,
    EmbeddedBroker,
    KafkaPublisher,
    dead_letter_message,
    read_event_head,
    rfc3339_us,
)

from ..conftest import NATIVE_EXPECTED
from .conftest import FILES, SOURCES, read_avro

# The confluent-kafka reference always; the native produce path unless FASTEV_NO_EXTENSIONS=1.
BACKENDS = [False, True] if NATIVE_EXPECTED else [False]
BACKEND_IDS = ["reference", "native"][:len(BACKENDS)]

NOW_US = 1_770_800_000_123_456  # ingest time for dCache inotify events, which carry none


def transcode_all(samples: Path, watches: dict[str, str], source: str) -> Any:
    opts = {"inotify_watches": watches, "now_us": NOW_US} if source == "dcache-inotify" else {}
    tc = Transcoder(source, [RouteSpec("all")], **opts)
    return tc.feed((samples / FILES[source]).read_bytes(), final=True)


def expected_events(samples: Path, watches: dict[str, str], source: str) -> list[dict[str, Any]]:
    opts = {"inotify_watches": watches, "now_us": NOW_US} if source == "dcache-inotify" else {}
    res = decode((samples / FILES[source]).read_bytes(), source, **opts)
    return [e.to_dict() for e in res.events]


def headers_of(msg: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in (msg.headers() or [])}


def test_avro_route_messages_arrive_with_keys_and_cloudevents_headers(
        broker: EmbeddedBroker, new_topic: Any, consume: Any, samples: Path, watches: dict[str, str]) -> None:
    topic = new_topic(partitions=3)
    sent: list[dict[str, Any]] = []
    with KafkaPublisher({"bootstrap.servers": broker.bootstrap}) as sink:
        for source in SOURCES:
            out = transcode_all(samples, watches, source)
            payloads, paths = out.payloads("all"), out.paths("all")
            ce = CloudEventHeaders()
            sink.send(topic, payloads, paths, ce.many(payloads, paths), token=source)
            sent += expected_events(samples, watches, source)
        sink.flush(30)
        assert sink.delivered == len(sent) and sink.failed == 0
    msgs = consume(topic, expected=len(sent))
    assert len(msgs) == len(sent) > 30
    by_id = {e["id"]: e for e in sent}
    assert len(by_id) == len(sent)
    per_partition_order: dict[str, list[tuple[int, int]]] = {}
    fingerprint = fastavro.schema.fingerprint(
        fastavro.schema.to_parsing_canonical_form(json.loads(schema_text())), "CRC-64-AVRO")
    for m in msgs:
        value = read_avro(m.value())
        want = by_id[value["id"]]
        assert value == {k: (str(v) if k in ("source", "kind") else v) for k, v in want.items()}
        assert m.key() == want["path"].encode()
        h = headers_of(m)
        t = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=want["time_us"])
        expected = {
            "ce_specversion": "1.0", "ce_id": want["id"],
            "ce_source": f"urn:fastev:{want['source'].lower().replace('_', '-')}",
            "ce_type": f"org.fastev.storage.{want['kind']}",
            "ce_time": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "content-type": "application/avro", "fastev_schema_fingerprint": fingerprint,
        }
        if want["path"]:
            expected["ce_subject"] = want["path"]
        assert h == expected
        per_partition_order.setdefault(want["path"], []).append((m.partition(), m.offset()))
    # key = path: all events of one file in one partition, in send order; the partition is the one
    # the Java client picks for that key (path-less events too: the empty key is hashed, not random)
    for path, places in per_partition_order.items():
        assert {p for p, _ in places} == {java_partition(path.encode(), 3)}, path


def java_partition(key: bytes, partitions: int) -> int:
    """The Java producer's partition for a non-null key: Kafka's Utils.murmur2, made positive."""
    m, h = 0x5BD1E995, (0x9747B28C ^ len(key)) & 0xFFFFFFFF
    whole = len(key) & ~3
    for i in range(0, whole, 4):
        k = (int.from_bytes(key[i:i + 4], "little") * m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = key[whole:]
    if tail:
        h = ((h ^ int.from_bytes(tail, "little")) * m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def test_java_partition_follows_kafka_murmur2_vectors() -> None:
    # Kafka's UtilsTest.testMurmur2 (signed ints); made positive, modulo 2**31 is the hash itself.
    vectors = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
               b"a-little-bit-longer-string": -1486304829, b"abc": 479470107,
               b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971}
    for key, signed in vectors.items():
        assert java_partition(key, 2**31) == signed & 0x7FFFFFFF, key


@pytest.mark.parametrize("native", BACKENDS, ids=BACKEND_IDS)
def test_tokens_report_once_when_everything_derived_is_acknowledged(
        broker: EmbeddedBroker, new_topic: Any, consume: Any, native: bool) -> None:
    a, b = new_topic(), new_topic()
    done: list[tuple[Any, Any]] = []
    sink = KafkaPublisher({"bootstrap.servers": broker.bootstrap}, native=native,
                     on_delivery=lambda t, e: done.append((t, e)))
    # position 0 -> 2 messages on a, 1 on b; position 1 -> 1 on a; position 2 -> nothing (all rejected)
    sink.send(a, [b"p0-0", b"p0-1", b"p1-0"], tokens=[("f", 0), ("f", 0), ("f", 1)])
    sink.send(b, [b"p0-2"], [None], [[("h", b"1")]], token=("f", 0))
    assert (sink.pending(("f", 0)), sink.pending(("f", 1)), sink.pending("unknown")) == (3, 1, 0)
    sink.flush(10)
    assert done == [] and sink.pending(("f", 0)) == 0  # nothing is complete before it is sealed
    sink.seal(("f", 0), ("f", 1), ("f", 2))
    assert sorted(done) == [(("f", 0), None), (("f", 1), None), (("f", 2), None)]
    done.clear()
    sink.send(a, [b"p3"], token=("f", 3))
    sink.seal(("f", 3))
    assert done == []  # sealed, but its message has no delivery report yet
    with pytest.raises(DeliveryError, match="sealed"):
        sink.send(a, [b"late"], token=("f", 3))
    with pytest.raises(DeliveryError, match="sealed"):  # all or nothing: nothing queued
        sink.send(a, [b"new", b"late"], tokens=[("f", 4), ("f", 3)])
    assert sink.pending(("f", 4)) == 0
    sink.flush(10)
    assert done == [(("f", 3), None)]
    # a completed token is forgotten; using it again starts a new account
    sink.send(a, [b"again"], token=("f", 0))
    sink.seal(("f", 0), ("f", 4))
    sink.flush(10)
    assert done[1:] == [(("f", 4), None), (("f", 0), None)]
    assert sink.in_flight == 0 and sink.delivered == 6
    assert sorted(m.value() for m in consume(a, b, expected=6)) == [
        b"again", b"p0-0", b"p0-1", b"p0-2", b"p1-0", b"p3"]


def assert_sent_order_per_key(msgs: list[Any]) -> None:
    """Values were sent in ascending order: per key (one partition each) the log keeps that order."""
    by_key: dict[bytes, list[bytes]] = {}
    for m in sorted(msgs, key=lambda m: (m.partition(), m.offset())):
        by_key.setdefault(m.key(), []).append(m.value())
    for vals in by_key.values():
        assert vals == sorted(vals)


@pytest.mark.parametrize("with_headers", [False, True], ids=["produce_batch", "produce"])
def test_full_queue_is_backpressure_not_loss(broker: EmbeddedBroker, new_topic: Any, consume: Any,
                                             with_headers: bool) -> None:
    topic = new_topic(partitions=2)
    n = 3000
    values = [b"m%05d" % i for i in range(n)]
    sink = KafkaPublisher({"bootstrap.servers": broker.bootstrap, "queue.buffering.max.messages": 7,
                      "linger.ms": 1})
    headers = [[("i", str(i))] for i in range(n)] if with_headers else None
    assert sink.send(topic, values, [str(i % 5) for i in range(n)], headers, token="all") == n
    sink.seal("all")
    sink.flush(30)
    assert sink.backpressure > 0 and sink.delivered == n and sink.failed == 0
    msgs = consume(topic, expected=n)
    assert Counter(m.value() for m in msgs) == Counter(values)  # none lost, none duplicated
    # per key, send order kept (idempotent producer, one partition per key)
    assert_sent_order_per_key(msgs)
    if with_headers:
        assert all(headers_of(m)["i"] == str(int(m.value()[1:])) for m in msgs)


def test_produce_batch_drops_headers_so_the_sink_does_not_use_it_for_them(
        broker: EmbeddedBroker, new_topic: Any, consume: Any) -> None:
    # confluent-kafka-python#2320: produce_batch silently discards headers. If this ever
    # changes, the sink may use produce_batch for headed messages too.
    from confluent_kafka import Producer

    topic = new_topic()
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.produce_batch(topic, [{"value": b"x", "headers": [("h", b"1")]}])
    p.flush(10)
    (m,) = consume(topic, expected=1)
    assert m.headers() is None


def test_unknown_topic_is_a_clear_error_when_auto_create_is_off(
        broker: EmbeddedBroker, new_topic: Any) -> None:
    missing = new_topic(create=False)
    sink = KafkaPublisher({"bootstrap.servers": broker.bootstrap})  # allow.auto.create.topics=false (default)
    with pytest.raises(DeliveryError, match=rf"topic '{missing}' does not exist on 127\.0\.0\.1:\d+: create it"):
        sink.send(missing, [b"x"], token=1)
    assert missing not in broker.topics()
    assert sink.in_flight == 0


def test_tansu_auto_creates_topics_when_the_client_allows_it(
        broker: EmbeddedBroker, new_topic: Any, consume: Any) -> None:
    # Honest about the broker: Tansu has no switch to refuse auto-creation; it follows the
    # client's allow_auto_topic_creation flag (and creates 4 partitions).
    missing = new_topic(create=False)
    sink = KafkaPublisher({"bootstrap.servers": broker.bootstrap, "allow.auto.create.topics": True})
    sink.send(missing, [b"x"])
    sink.flush(10)
    assert broker.topics()[missing] >= 1
    assert [m.value() for m in consume(missing, expected=1)] == [b"x"]


def test_delivery_failure_raises_and_reports_the_token(broker: EmbeddedBroker, new_topic: Any) -> None:
    topic = new_topic()
    done: list[tuple[Any, Any]] = []
    sink = KafkaPublisher({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 1500,
                      "log_level": 0}, on_delivery=lambda t, e: done.append((t, e)))
    sink.ensure_topic(topic)
    broker.freeze()
    try:
        sink.send(topic, [b"x"], token=7)
        sink.seal(7)
        with pytest.raises(DeliveryError, match="timed out"):
            sink.flush(10)
    finally:
        broker.thaw()
    assert done and done[0][0] == 7 and isinstance(done[0][1], DeliveryError)
    with pytest.raises(DeliveryError):  # the sink stays failed: the caller must not commit
        sink.poll(0)


def test_frozen_broker_delays_but_loses_nothing(broker: EmbeddedBroker, new_topic: Any, consume: Any) -> None:
    topic = new_topic()
    done: list[Any] = []
    sink = KafkaPublisher({"bootstrap.servers": broker.bootstrap, "log_level": 0},
                     on_delivery=lambda t, e: done.append((t, e)))
    sink.send(topic, [b"before"], token=0)
    sink.seal(0)
    sink.flush(10)
    broker.freeze()
    timer = threading.Timer(2.0, broker.thaw)
    timer.start()
    try:
        for i in range(1, 201):
            sink.send(topic, [b"during-%d" % i], token=i)
            sink.seal(i)
            sink.poll(0)
        sink.flush(30)
    finally:
        timer.join()
        broker.thaw()
    assert done == [(i, None) for i in range(201)]
    assert len(consume(topic, expected=201)) == 201


def test_producer_config_keeps_the_guarantees() -> None:
    with pytest.raises(ConfigError, match="idempotence"):
        KafkaPublisher({"bootstrap.servers": "127.0.0.1:1", "enable.idempotence": False})
    with pytest.raises(ConfigError, match="acks"):
        KafkaPublisher({"bootstrap.servers": "127.0.0.1:1", "acks": 1})
    with pytest.raises(ConfigError, match="bootstrap.servers"):
        KafkaPublisher({})


def test_event_head_reader_matches_the_avro_payload(samples: Path, watches: dict[str, str]) -> None:
    from fastev.avro import confluent_frame
    from fastev.event import KINDS
    from fastev.event import SOURCES as SOURCE_SYMBOLS

    for source in SOURCES:
        out = transcode_all(samples, watches, source)
        for payload in out.payloads("all"):
            ev = read_avro(payload)
            head = (ev["id"], SOURCE_SYMBOLS.index(ev["source"]), KINDS.index(ev["kind"]), ev["time_us"])
            assert read_event_head(payload) == head
            assert read_event_head(confluent_frame(42, payload), 5) == head


@pytest.mark.parametrize("us", [0, 1, -1, 999_999, 1_770_797_645_310_000, -62_135_596_800_000_000,
                                253_402_300_799_999_999, 951_782_400_000_001, 4_107_542_400_123_456])
def test_rfc3339_matches_datetime(us: int) -> None:
    t = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)
    assert rfc3339_us(us) == t.strftime("%Y-%m-%dT%H:%M:%S.%fZ").rjust(27, "0")


def test_dead_letter_message_keeps_the_original_bytes() -> None:
    err = DecodeError("wrong-type", "fileSize", index=3, offset=120, line=4, source="dcache-billing",
                      raw=b'{"fileSize": "x"}')
    value, headers = dead_letter_message(err)
    h = dict(headers)
    assert value == b'{"fileSize": "x"}'
    assert (h["fastev_reason"], h["fastev_field"], h["fastev_source"], h["fastev_offset"]) == (
        "wrong-type", "fileSize", "dcache-billing", "120")
    big = DecodeError("invalid-json", None, raw=b"x" * 1000, source="s3")
    value, headers = dead_letter_message(big, max_value=100)
    h = dict(headers)
    assert value == b"x" * 100 and h["fastev_truncated"] == "1" and h["fastev_length"] == "1000"
    assert h["fastev_field"] == ""


def test_native_cloudevents_headers_equal_the_python_ones() -> None:
    """RouteBatch.ce_headers (native codec) builds exactly what CloudEventHeaders builds per payload."""
    from fastev.kafka.cloudevents import CloudEventHeaders
    from fastev.routes import RouteSpec
    from fastev.transcode import Transcoder

    from ..conftest import SAMPLES

    for framing in ("avro", "confluent"):
        ce = CloudEventHeaders(framing=framing)
        for name, source in (("dcache-billing.jsonl", "dcache-billing"), ("gpfs-audit.jsonl", "gpfs-audit"),
                             ("s3.jsonl", "s3")):
            batch = Transcoder(source, [RouteSpec("all")], framing=framing, schema_id=3).feed(
                (SAMPLES / name).read_bytes(), final=True)
            expected = ce.many(batch.payloads("all"), batch.paths("all"))
            assert ce.for_route(batch, "all") == expected
    # times before 1970 and around leap days format like the Python path
    from fastev.kafka.cloudevents import rfc3339_us
    assert rfc3339_us(-1) == "1969-12-31T23:59:59.999999Z"


def test_native_cloudevents_times_match_across_epochs() -> None:
    from fastev.kafka.cloudevents import CloudEventHeaders
    from fastev.routes import RouteSpec
    from fastev.transcode import Transcoder

    dates = ["1969-12-31T23:59:59.999999Z", "1900-03-01T00:00:00Z", "2024-02-29T23:59:59.5+01:00",
             "2000-01-01T00:00:00.000001Z", "2399-12-31T23:59:59Z", "1970-01-01T00:00:00Z"]
    lines = b"\n".join(b'{"msgType": "store", "date": "%s", "billingPath": "/p/%d"}' % (d.encode(), i)
                       for i, d in enumerate(dates))
    batch = Transcoder("dcache-billing", [RouteSpec("all")]).feed(lines, final=True)
    ce = CloudEventHeaders()
    assert ce.for_route(batch, "all") == ce.many(batch.payloads("all"), batch.paths("all"))
    assert batch.count("all") == len(dates)
