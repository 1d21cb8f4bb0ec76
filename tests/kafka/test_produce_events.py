"""EventProducer.produce_events takes what ``fastev.decode()`` returns (StorageEvents) as well as
dicts of their fields, and sends exactly the messages the raw records would get (C7: before, the
drop-in producer took raw records only)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fastavro
import pytest

from fastev import decode
from fastev.kafka import EmbeddedBroker, EventProducer

SOURCE = "dcache-billing"
ROUTES = """
[[route]]
name = "all"
topic = "{all}"

[[route]]
name = "photon"
topic = "{photon}"
paths = ["/pnfs/lab.example/photon"]
format = "confluent"
key = "id"

[[route]]
name = "files"
topic = "{files}"
kinds = ["UPLOAD", "DOWNLOAD"]
format = "ocf"
key = "none"
"""


def routes_file(path: Path, new_topic: Any) -> tuple[Path, dict[str, str]]:
    topics = {name: new_topic() for name in ("all", "photon", "files")}
    path.write_text(ROUTES.format(**topics))
    return path, topics


def messages(consume: Any, topic: str) -> list[tuple[Any, ...]]:
    """What a reader sees, OCF files as their events (their sync markers are random)."""
    out: list[tuple[Any, ...]] = []
    for m in consume(topic):
        value = m.value()
        if value.startswith(b"Obj\x01"):
            value = tuple(repr(r) for r in fastavro.reader(io.BytesIO(value)))
        out.append((value, m.key(), tuple(m.headers() or ())))
    return out


@pytest.mark.parametrize("form", ["StorageEvent", "dict"])
def test_decoded_events_become_the_messages_of_their_raw_records(
        broker: EmbeddedBroker, new_topic: Any, consume: Any, samples: Path, tmp_path: Path, form: str) -> None:
    data = (samples / f"{SOURCE}.jsonl").read_bytes()
    events: list[Any] = decode(data, SOURCE).events
    if form == "dict":
        events = [e.to_dict() for e in events]
    sent: dict[str, dict[str, str]] = {}
    for how in ("raw", "events"):
        path, sent[how] = routes_file(tmp_path / f"{how}.toml", new_topic)
        producer = EventProducer({"bootstrap.servers": broker.bootstrap, "fastev.source": SOURCE,
                                  "fastev.routes": str(path), "fastev.schema_id": 7})
        result = producer.produce_batch(data.splitlines()) if how == "raw" else producer.produce_events(events)
        assert producer.flush(10) == 0
        assert all(result.queued.values()), result.queued  # every route took something
        producer.close()
    for route in ("all", "photon", "files"):
        raw, decoded = messages(consume, sent["raw"][route]), messages(consume, sent["events"][route])
        assert decoded == raw, route
        assert decoded, route
    photon = messages(consume, sent["events"]["photon"])
    assert all(value[:5] == b"\x00\x00\x00\x00\x07" for value, _, _ in photon)  # Confluent framing, id 7


def test_a_value_that_is_not_an_event_queues_nothing(broker: EmbeddedBroker, new_topic: Any, consume: Any,
                                                     samples: Path) -> None:
    topic = new_topic()
    producer = EventProducer({"bootstrap.servers": broker.bootstrap, "fastev.topic": topic})
    good = decode((samples / f"{SOURCE}.jsonl").read_bytes(), SOURCE).events[0]
    with pytest.raises(TypeError, match=r"events\[1\]: an event is a StorageEvent or a mapping"):
        producer.produce_events([good, b"not an event"])
    with pytest.raises(ValueError, match=r"events\[0\]: "):
        producer.produce_events([{"path": "/x"}])
    result = producer.produce_events([good])
    assert producer.flush(10) == 0
    assert result.queued == {"default": 1}
    assert len(consume(topic)) == 1  # only the last call's event: the failed calls queued nothing
    producer.close()
