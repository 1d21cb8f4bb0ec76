"""The native produce path (fastev._core.kproducer behind KafkaPublisher) against the real broker.

Equivalence with the confluent-kafka reference backend: the same messages, keys, headers
and partitions arrive, and delivery accounting (tokens, counters, errors) is the same.
Skipped only under FASTEV_NO_EXTENSIONS=1; otherwise a missing extension fails here.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fastev import RouteSpec, Transcoder
from fastev.errors import ConfigError, DeliveryError
from fastev.kafka import CloudEventHeaders, EmbeddedBroker, KafkaPublisher
from fastev.kafka import native_publisher as publisher_module

from ..conftest import SAMPLES
from .conftest import FILES, SOURCES
from .test_publisher import assert_sent_order_per_key

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")
pytestmark = pytest.mark.skipif(NO_EXTENSIONS, reason="native extension disabled by FASTEV_NO_EXTENSIONS")

BACKENDS = [False, True]  # native=False: the confluent-kafka reference


def make_sink(broker: EmbeddedBroker, native: bool, **kw: Any) -> KafkaPublisher:
    conf = {"bootstrap.servers": broker.bootstrap, **kw.pop("conf", {})}
    sink = KafkaPublisher(conf, native=native, **kw)
    assert isinstance(sink, publisher_module.NativeKafkaPublisher) == native
    return sink


def arrived(msgs: list[Any]) -> Counter[tuple[Any, ...]]:
    """What a consumer sees, backend-independent: (partition, key, value, headers).

    Messages without a key go to a random partition (murmur2_random hashes every other key,
    the empty one too), so only their partition is not compared."""
    return Counter((None if m.key() is None else m.partition(), m.key(), m.value(), tuple(m.headers() or ()))
                   for m in msgs)


def test_the_native_backend_is_the_default() -> None:
    assert publisher_module.IMPLEMENTATION == "native", "fastev._core.kproducer did not load"
    sink = KafkaPublisher({"bootstrap.servers": "127.0.0.1:1", "log_level": 0})
    assert type(sink) is publisher_module.NativeKafkaPublisher
    # Python callbacks in the config need confluent-kafka: the reference backend takes them.
    reference = KafkaPublisher({"bootstrap.servers": "127.0.0.1:1", "error_cb": print, "log_level": 0})
    assert type(reference) is KafkaPublisher
    with pytest.raises(ConfigError, match="callbacks"):
        KafkaPublisher({"bootstrap.servers": "127.0.0.1:1", "error_cb": print}, native=True)


def test_bad_config_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="'no.such.property'"):
        KafkaPublisher({"bootstrap.servers": "127.0.0.1:1", "no.such.property": 1}, native=True)
    with pytest.raises(ConfigError, match="'linger.ms'"):
        KafkaPublisher({"bootstrap.servers": "127.0.0.1:1", "linger.ms": "soon"}, native=True)
    with pytest.raises(ConfigError, match="idempotence"):
        KafkaPublisher({"bootstrap.servers": "127.0.0.1:1", "enable.idempotence": False}, native=True)


def test_same_messages_keys_headers_and_accounting_as_the_reference(
        broker: EmbeddedBroker, new_topic: Any, consume: Any, samples: Path) -> None:
    batch = Transcoder("dcache-billing", [RouteSpec("all")]).feed(
        (samples / "dcache-billing.jsonl").read_bytes(), final=True)
    payloads, paths = batch.payloads("all"), batch.paths("all")
    ce = CloudEventHeaders().for_route(batch, "all")
    n = len(payloads)
    # odd cases too: no key, bytes key, a header without value, bytes header values, no headers
    extra_values = [b"plain", b"", b"bytes-key", b"dict-headers"]
    extra_keys: list[Any] = [None, None, b"\x00k", "k\u00e9"]
    extra_headers: list[Any] = [None, [("none", None), ("b", b"\x00\xff")], [], {"d": "1"}]
    seen: dict[bool, Any] = {}
    for native in BACKENDS:
        topic = new_topic(partitions=3)
        done: list[tuple[Any, Any]] = []
        sink = make_sink(broker, native, on_delivery=lambda t, e, done=done: done.append((t, e)))
        assert sink.send(topic, payloads, paths, ce, token="events") == n
        assert sink.send(topic, extra_values, extra_keys, extra_headers, tokens=["x", "x", "y", "y"]) == 4
        assert sink.pending("events") + sink.pending("x") + sink.pending("y") == sink.in_flight == n + 4
        sink.seal("events", "x", "y", "nothing-sent")
        sink.flush(30)
        assert (sink.in_flight, sink.delivered, sink.failed) == (0, n + 4, 0)
        assert sorted(done) == [("events", None), ("nothing-sent", None), ("x", None), ("y", None)]
        assert len(sink) == 0 and sink.error is None
        sink.close()
        seen[native] = arrived(consume(topic, expected=n + 4))
    assert sum(seen[True].values()) == n + 4
    assert seen[True] == seen[False]


def test_many_tokens_reuse_slots(broker: EmbeddedBroker, new_topic: Any, consume: Any) -> None:
    topic = new_topic(partitions=2)
    done: list[Any] = []
    sink = make_sink(broker, True, on_delivery=lambda t, e: done.append(t))
    for i in range(300):  # more tokens than the first slot table holds, some alive at once
        sink.send(topic, [b"%d" % i, b"%d" % i], ["k", "k"], [[("i", str(i))]] * 2, token=i)
        sink.seal(i)
        if i % 50 == 0:
            sink.poll(0)
    sink.flush(30)
    assert sorted(done) == list(range(300)) and sink.delivered == 600
    assert len(consume(topic, expected=600)) == 600


def test_full_queue_is_backpressure_not_loss(broker: EmbeddedBroker, new_topic: Any, consume: Any) -> None:
    topic = new_topic(partitions=2)
    n = 3000
    values = [b"m%05d" % i for i in range(n)]
    headers = [[("i", str(i)), ("ce_id", "x" * 40)] for i in range(n)]
    done: list[Any] = []
    sink = make_sink(broker, True, conf={"queue.buffering.max.messages": 7, "linger.ms": 1},
                     on_delivery=lambda t, e: done.append((t, e)))
    tokens = [i // 100 for i in range(n)]
    assert sink.send(topic, values, [str(i % 5) for i in range(n)], headers, tokens) == n
    sink.seal(*range(30))
    sink.flush(30)
    assert sink.backpressure > 0 and sink.delivered == n and sink.failed == 0
    assert sorted(done) == [(i, None) for i in range(30)]
    msgs = consume(topic, expected=n)
    assert Counter(m.value() for m in msgs) == Counter(values)  # none lost, none duplicated
    assert_sent_order_per_key(msgs)
    assert all(dict(m.headers())["i"] == str(int(m.value()[1:])).encode() for m in msgs)


@pytest.mark.parametrize("native", BACKENDS, ids=["reference", "native"])
def test_unknown_topic_is_the_same_clear_error(broker: EmbeddedBroker, new_topic: Any, native: bool) -> None:
    missing = new_topic(create=False)
    sink = make_sink(broker, native)
    with pytest.raises(DeliveryError, match=rf"topic '{missing}' does not exist on 127\.0\.0\.1:\d+: create it"):
        sink.send(missing, [b"x"], None, [[("h", "v")]], token=1)
    assert missing not in broker.topics()
    assert sink.in_flight == 0


def test_oversized_message_is_refused_at_send(broker: EmbeddedBroker, new_topic: Any) -> None:
    topic = new_topic()
    for native in BACKENDS:
        sink = make_sink(broker, native, conf={"message.max.bytes": 2000})
        with pytest.raises(DeliveryError, match="3000-byte message exceeds message.max.bytes"):
            sink.send(topic, [b"ok", b"x" * 3000], None, [[("h", "1")], [("h", "2")]], token=1)
        sink.flush(10)
        assert sink.delivered == 1 and sink.in_flight == 0 and sink.pending(1) == 0


def test_delivery_failure_raises_and_reports_the_token(broker: EmbeddedBroker, new_topic: Any) -> None:
    topic = new_topic()
    done: list[tuple[Any, Any]] = []
    sink = make_sink(broker, True, conf={"message.timeout.ms": 1500, "log_level": 0},
                     on_delivery=lambda t, e: done.append((t, e)))
    sink.ensure_topic(topic)
    broker.freeze()
    try:
        sink.send(topic, [b"x", b"y"], None, [[("h", "1")], None], token=7)
        sink.seal(7)
        with pytest.raises(DeliveryError, match=rf"delivery to topic '{topic}' failed: .*timed out"):
            sink.flush(10)
    finally:
        broker.thaw()
    assert done and done[0][0] == 7 and isinstance(done[0][1], DeliveryError)
    assert sink.failed == 2 and sink.in_flight == 0
    with pytest.raises(DeliveryError):  # the sink stays failed: the caller must not commit
        sink.poll(0)


def test_on_delivery_exceptions_are_raised_later(broker: EmbeddedBroker, new_topic: Any) -> None:
    topic = new_topic()

    def boom(token: Any, error: Any) -> None:
        raise RuntimeError("callback bug")

    sink = make_sink(broker, True, on_delivery=boom)
    sink.send(topic, [b"x"], token=1)
    sink.seal(1)
    with pytest.raises(DeliveryError, match="on_delivery callback failed for 1") as info:
        sink.flush(10)
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("framing", ["avro", "confluent"])
def test_cloudevents_headers_built_in_c_equal_the_python_ones(
        broker: EmbeddedBroker, new_topic: Any, consume: Any, samples: Path, watches: dict[str, str],
        framing: str) -> None:
    """NativeKafkaPublisher writes a route's CloudEvents headers from payload and path in C."""
    dates = ["1969-12-31T23:59:59.999999Z", "1900-03-01T00:00:00Z", "2024-02-29T23:59:59.5+01:00",
             "2000-01-01T00:00:00.000001Z", "2399-12-31T23:59:59Z", "1970-01-01T00:00:00Z"]
    odd_times = b"\n".join(b'{"msgType": "store", "date": "%s", "billingPath": "/p/%d"}' % (d.encode(), i)
                           for i, d in enumerate(dates))
    inputs = [(source, (samples / FILES[source]).read_bytes()) for source in SOURCES]
    inputs.append(("dcache-billing", odd_times + b'\n{"msgType": "remove", "date": "2026-01-01T00:00:00Z"}'))
    topic = new_topic(partitions=2)
    sink = make_sink(broker, True)
    ce = CloudEventHeaders("urn:site:test" if framing == "confluent" else None, framing=framing)
    expected: dict[bytes, list[tuple[str, bytes]]] = {}
    for source, data in inputs:
        opts = {"inotify_watches": watches, "now_us": 1_770_800_000_123_456} if source == "dcache-inotify" else {}
        batch = Transcoder(source, [RouteSpec("all")], framing=framing, schema_id=7, **opts).feed(data, final=True)
        payloads, paths = batch.payloads("all"), batch.paths("all")
        for payload, headers in zip(payloads, ce.many(payloads, paths), strict=True):
            expected[payload] = [(k, v.encode() if isinstance(v, str) else v) for k, v in headers]
        sink.send(topic, payloads, paths, ce.for_route(batch, "all"), token=source)
    sink.flush(30)
    assert sink.delivered == len(expected) > 40
    msgs = consume(topic, expected=len(expected))
    assert len(msgs) == len(expected)
    for m in msgs:
        assert m.headers() == expected[m.value()]
    assert any(dict(m.headers()).get("ce_subject") is None for m in msgs)  # empty path: no subject


def test_a_payload_without_event_fields_is_refused(broker: EmbeddedBroker, new_topic: Any) -> None:
    topic = new_topic()
    batch = Transcoder("s3", [RouteSpec("all")]).feed((SAMPLES / FILES["s3"]).read_bytes(), final=True)
    good = batch.payloads("all")
    sink = make_sink(broker, True)
    lazy = CloudEventHeaders().for_route(batch, "all")
    bad = [*good[:-1], b"\x07"]  # the last one is cut short
    with pytest.raises(ValueError, match=r"send: CloudEvents headers: a string length is negative or runs "
                                         rf"past the payload \(message {len(good) - 1}\)"):
        sink.send(topic, bad, None, lazy, token=1)
    sink.flush(10)
    assert sink.delivered == len(good) - 1 and sink.in_flight == 0


def test_a_fatal_producer_error_fails_the_sink(broker: EmbeddedBroker, new_topic: Any) -> None:
    from confluent_kafka import KafkaError

    topic = new_topic()
    sink = make_sink(broker, True, conf={"log_level": 0})
    sink.send(topic, [b"x"], token=1)
    sink.flush(10)
    from fastev._core import kproducer

    assert not hasattr(sink.producer, "test_fatal_error")  # not part of the production surface
    assert kproducer._inject_fatal_error(sink.producer, KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
                                         "injected by the test") == 0
    with pytest.raises(DeliveryError, match=r"fatal producer error: .*injected by the test "
                                            r"\(OUT_OF_ORDER_SEQUENCE_NUMBER\); nothing after"):
        sink.poll(0.5)
    with pytest.raises(DeliveryError, match="fatal producer error"):  # and it stays failed
        sink.send(topic, [b"y"], token=2)


def test_not_strict_reports_transient_failures_only_to_the_token(broker: EmbeddedBroker, new_topic: Any) -> None:
    topic = new_topic()
    done: list[tuple[Any, Any]] = []
    sink = make_sink(broker, True, conf={"message.timeout.ms": 1000, "log_level": 0}, strict=False,
                     on_delivery=lambda t, e: done.append((t, e)))
    sink.ensure_topic(topic)
    broker.freeze()
    try:
        sink.send(topic, [b"x"], token=1)
        sink.seal(1)
        sink.flush(10)  # a timed-out delivery is not permanent: not raised when strict=False
    finally:
        broker.thaw()
    assert sink.error is None and sink.failed == 1
    assert done[0][0] == 1 and "timed out" in str(done[0][1])
