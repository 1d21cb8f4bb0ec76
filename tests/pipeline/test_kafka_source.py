"""Kafka sources: explicit commits after delivery; kill and restart on the same group loses nothing."""
from __future__ import annotations

import signal
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from fastev import decode
from fastev.kafka.broker import free_port

from .conftest import finish, header, wait_for, write_config

BAD = b'{"msgType": "transfer", "fileSize": "big"}'
CONSUMER = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 500,
            # small fetches: the first run is still mid-stream when it is killed
            "max.partition.fetch.bytes": 65536, "fetch.max.bytes": 131072, "message.max.bytes": 131072}


def produce_input(bootstrap: str, topic: str, records: list[bytes]) -> dict[int, int]:
    """Produce the raw records; returns the end offset of every partition."""
    ends: dict[int, int] = {}

    def report(err: Any, msg: Any) -> None:
        assert err is None, err
        ends[msg.partition()] = max(ends.get(msg.partition(), 0), msg.offset() + 1)

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, rec in enumerate(records):
        p.produce(topic, rec, key=str(i % 7), on_delivery=report)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    return ends


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.read().decode()  # type: ignore[no-any-return]
    except OSError:
        return ""


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 3})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps if tp.offset >= 0}
    finally:
        c.close()


def test_kill_and_restart_on_the_same_group(broker: Any, new_topic: Any, consume: Any, fastev_run: Any,
                                            big_billing: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, all_ids = big_billing
    records = path.read_bytes().splitlines()[:min(30000, len(all_ids))]
    records[100:100] = [BAD]
    ids = [e.id for e in decode(b"\n".join(records), "dcache-billing").events]
    raw, out, dead = new_topic(partitions=2), new_topic(partitions=2), new_topic()
    ends = produce_input(broker.bootstrap, raw, records)
    group = f"g-{raw}"
    port = free_port()
    config = write_config(tmp_path / "run.toml", bootstrap=broker.bootstrap, consumer=CONSUMER,
                          sources=[{"type": "kafka", "format": "dcache-billing", "topics": [raw], "group": group}],
                          routes=[{"name": "all", "topic": out}], dead_letter=dead,
                          extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n')

    first = fastev_run(config)
    wait_for(lambda: sum(committed(broker.bootstrap, group, raw, 2).values()) > 0 or first.poll() is not None,
             60, "a first offset commit", step=0.1)
    assert first.poll() is None, first.communicate()[1]
    first.send_signal(signal.SIGKILL)
    first.wait()
    at_kill = committed(broker.bootstrap, group, raw, 2)
    assert sum(at_kill.values()) < len(records), "killed too late: the first run had read everything"

    second = fastev_run(config)
    seen: Counter[str] = Counter()

    def all_arrived() -> bool:
        seen.clear()
        seen.update(header(m, "ce_id") for m in consume(out, expected=len(ids), idle_timeout=0.5))
        return set(ids) <= set(seen) or second.poll() is not None

    wait_for(all_arrived, 90, "every event on the output topic", step=0.5)
    assert second.poll() is None, second.communicate()[1]  # still running (a Kafka source runs until SIGTERM)
    # The first run may have put everything on the topic before it was killed; the second run's own
    # deliveries (the uncommitted tail, after the dead member's session expires and the group rebalances)
    # are what makes the route's counter appear.
    wait_for(lambda: 'fastev_route_events_delivered_total{route="all"}' in scrape(port), 60, "metrics")
    metrics = scrape(port)
    assert 'fastev_source_records_total{source="kafka-0"}' in metrics
    assert "fastev_delivery_latency_seconds_bucket" in metrics and "fastev_producer_queue_messages" in metrics
    second.send_signal(signal.SIGTERM)
    code, text, err = finish(second)
    assert code == 0, err
    assert set(seen) == set(ids)  # every input id at least once
    assert sum(seen.values()) - len(ids) <= len(records) - sum(at_kill.values())  # dups: uncommitted tail only
    # The drain committed every offset it read (nothing left behind for the group).
    assert committed(broker.bootstrap, group, raw, 2) == ends
    # The rejected record is on the dead-letter topic, naming its partition and offset.
    dlq = consume(dead, expected=1)
    assert {m.value() for m in dlq} == {BAD}
    m = dlq[0]
    assert (header(m, "fastev_reason"), header(m, "fastev_field")) == ("missing-field", "date")
    partition = int(header(m, "fastev_input")[len(raw) + 1:-1])  # type: ignore[index]
    assert 0 <= partition < 2 and int(header(m, "fastev_offset")) >= 0  # type: ignore[arg-type]


def test_two_processes_share_the_partitions(broker: Any, new_topic: Any, consume: Any, fastev_run: Any,
                                            big_billing: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, all_ids = big_billing
    records = path.read_bytes().splitlines()[:4000]
    raw, out = new_topic(partitions=4), new_topic(partitions=2)
    ends = produce_input(broker.bootstrap, raw, records)
    group = f"g-{raw}"
    config = write_config(tmp_path / "run.toml", bootstrap=broker.bootstrap,
                          consumer={"session.timeout.ms": 3000, "heartbeat.interval.ms": 500},
                          sources=[{"type": "kafka", "format": "dcache-billing", "topics": [raw], "group": group}],
                          routes=[{"name": "all", "topic": out}])
    procs = [fastev_run(config), fastev_run(config)]
    wait_for(lambda: committed(broker.bootstrap, group, raw, 4) == ends, 60, "every offset committed", step=0.3)
    for p in procs:
        p.send_signal(signal.SIGTERM)
    results = [finish(p) for p in procs]
    assert [r[0] for r in results] == [0, 0], [r[2] for r in results]
    got = Counter(header(m, "ce_id") for m in consume(out, expected=len(records)))
    assert set(got) == set(all_ids[:4000])
