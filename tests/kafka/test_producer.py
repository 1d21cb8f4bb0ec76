"""EventProducer, the drop-in for bridge scripts: before/after equivalence on the real broker."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Producer

from fastev import Transcoder, decode, load_routes
from fastev.demo import demo_dir
from fastev.errors import ConfigError, DeliveryError
from fastev.kafka import EmbeddedBroker, EventProducer

from .conftest import read_avro

BAD_BILLING = (b'{"version":"1.0","msgType":"transfer","date":"2026-02-11T09:14:05Z","cellName":"p",'
               b'"cellType":"pool","cellDomain":"d","status":{"code":0,"msg":""},'
               b'"billingPath":"/pnfs/lab.example/x","fileSize":-5,"isWrite":"write"}')


def as_dicts(events: list[Any]) -> list[dict[str, Any]]:
    return [{k: (str(v) if k in ("source", "kind") else v) for k, v in e.to_dict().items()} for e in events]


def test_before_and_after_bridges_deliver_the_same_events(
        broker: EmbeddedBroker, new_topic: Any, consume: Any, samples: Path) -> None:
    lines = (samples / "dcache-billing.jsonl").read_bytes().splitlines()
    lines.insert(3, BAD_BILLING)
    raw_topic, events_topic, dead_topic = new_topic(), new_topic(partitions=2), new_topic()

    # before: a typical bridge - json for a sanity check and a key, then Producer.produce
    before = Producer({"bootstrap.servers": broker.bootstrap})
    for line in lines:
        rec = json.loads(line)
        before.produce(raw_topic, line, key=rec.get("transferPath") or rec.get("billingPath"))
        before.poll(0)
    assert before.flush(10) == 0

    # after: the same loop with EventProducer.produce_raw
    after = EventProducer({"bootstrap.servers": broker.bootstrap, "fastev.source": "dcache-billing",
                           "fastev.topic": events_topic, "fastev.dead_letter_topic": dead_topic})
    rejected = []
    for line in lines:
        result = after.produce_raw(line)
        rejected += result.errors
        after.poll(0)
    assert after.flush(10) == 0 and len(after) == 0

    # The plain bridge forwarded the bad record unchecked; fastev rejected it with a reason.
    raw = [m.value() for m in consume(raw_topic, expected=len(lines))]
    assert raw == lines
    reference = decode(b"\n".join(raw), "dcache-billing")
    assert [(e.reason, e.field) for e in reference.errors] == [("out-of-range", "fileSize")]
    assert [(e.reason, e.field) for e in rejected] == [("out-of-range", "fileSize")]

    # Every valid event arrives once, as Avro equal to `fastev decode` of the same input.
    msgs = consume(events_topic, expected=len(reference.events))
    got = sorted((read_avro(m.value()) for m in msgs), key=lambda d: d["id"])
    assert got == sorted(as_dicts(reference.events), key=lambda d: d["id"])
    assert all(m.key() == read_avro(m.value())["path"].encode() for m in msgs)
    assert all(dict(m.headers())["ce_id"].decode() == read_avro(m.value())["id"] for m in msgs)

    (dead,) = consume(dead_topic, expected=1)
    h = {k: v.decode() for k, v in dead.headers()}
    assert dead.value() == BAD_BILLING
    assert (h["fastev_reason"], h["fastev_field"], h["fastev_source"]) == ("out-of-range", "fileSize",
                                                                         "dcache-billing")
    assert "fastev_offset" in h


def test_routes_file_sends_each_route_to_its_topic_in_its_format(
        broker: EmbeddedBroker, new_topic: Any, consume: Any, samples: Path, tmp_path: Path) -> None:
    topics = {name: new_topic() for name in ("photon", "mri", "deletions")}
    (tmp_path / "routes.toml").write_text(f'''
[acl]
file = "{demo_dir() / 'acl.toml'}"
[[route]]
name = "photon"
principals = ["group:photon"]
topic = "{topics['photon']}"
[[route]]
name = "mri"
principals = ["group:mri"]
topic = "{topics['mri']}"
format = "confluent"
key = "id"
[[route]]
name = "deletions"
kinds = ["DELETE", "EVICT"]
topic = "{topics['deletions']}"
format = "ocf"
''')
    records = []
    for name in ("dcache-billing.jsonl", "gpfs-audit.jsonl", "s3.jsonl"):
        records += (samples / name).read_bytes().splitlines()
    producer = EventProducer({"bootstrap.servers": broker.bootstrap, "fastev.source": "auto",
                              "fastev.routes": str(tmp_path / "routes.toml"), "fastev.schema_id": 7})
    result = producer.produce_batch(records)
    producer.flush(10)
    assert result.ok

    expected = Transcoder("auto", load_routes(tmp_path / "routes.toml")).feed_records(records)
    assert all(expected.count(r) for r in ("photon", "mri", "deletions"))
    photon = consume(topics["photon"], expected=expected.count("photon"))
    assert [m.value() for m in photon] == expected.payloads("photon")
    mri = consume(topics["mri"], expected=expected.count("mri"))
    assert [m.value()[:5] for m in mri] == [b"\x00\x00\x00\x00\x07"] * len(mri)  # Confluent wire framing
    assert [read_avro(m.value()[5:])["id"] for m in mri] == expected.ids("mri")
    assert [m.key().decode() for m in mri] == expected.ids("mri")
    (ocf,) = consume(topics["deletions"], expected=1)
    reader = fastavro.reader(io.BytesIO(ocf.value()))
    assert [ev["id"] for ev in reader] == expected.ids("deletions")
    assert result.queued == {"photon": len(photon), "mri": len(mri), "deletions": 1}


def test_moves_pair_across_calls_and_close_emits_the_unpaired(
        broker: EmbeddedBroker, new_topic: Any, consume: Any, samples: Path) -> None:
    data = (samples / "gpfs-watch.jsonl").read_bytes()
    topic = new_topic()
    delivered: list[Any] = []
    with EventProducer({"bootstrap.servers": broker.bootstrap, "fastev.source": "gpfs-watch",
                        "fastev.topic": topic}) as producer:
        for i, line in enumerate(data.splitlines()):
            producer.produce_raw(line, on_delivery=lambda err, token: delivered.append((err, token)),
                                 token=("line", i))
    reference = decode(data, "gpfs-watch")
    assert any(e.kind == "RENAME" for e in reference.events)
    msgs = consume(topic, expected=len(reference.events))
    assert sorted((read_avro(m.value()) for m in msgs), key=lambda d: d["id"]) == sorted(
        as_dicts(reference.events), key=lambda d: d["id"])
    assert sorted(t for _, t in delivered) == [("line", i) for i in range(len(data.splitlines()))]
    assert all(err is None for err, _ in delivered)


def test_config_errors_are_clear(broker: EmbeddedBroker, new_topic: Any) -> None:
    with pytest.raises(ConfigError, match="fastev.topc"):
        EventProducer({"bootstrap.servers": broker.bootstrap, "fastev.topc": "x"})
    with pytest.raises(ConfigError, match="fastev.topic"):
        EventProducer({"bootstrap.servers": broker.bootstrap})
    missing = new_topic(create=False)
    with pytest.raises(DeliveryError, match=f"topic '{missing}' does not exist"):
        EventProducer({"bootstrap.servers": broker.bootstrap, "fastev.topic": missing})
