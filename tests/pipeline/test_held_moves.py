"""A held move is never committed past: record-less Kafka messages do not advance the pairing window.

The decoder holds an IN_MOVED_FROM for ``pairing_window`` further *records*;
tombstones and SSE comment frames are no records. Were they counted, the offset
past the move would be committed while the decoder still holds it, and a
SIGKILL then loses the old path (MOVED_IN instead of RENAME after restart).
"""
from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from fastev.bench.records import INOTIFY_WATCHES
from fastev.kafka.broker import free_port
from fastev.pipeline.kafka_source import HeldPositions, _message_records

from .conftest import finish, read_avro, wait_for, write_config
from .test_kafka_source import committed

SUB = "https://frontend.example.org:3880/api/v1/events/channels/Q2hhbm5lbA/subscriptions/inotify/W0"


def move(kind: str, name: str, sse_id: int) -> bytes:
    data = json.dumps({"event": {"name": name, "cookie": "c1", "mask": [kind]}, "subscription": SUB})
    return f"event: inotify\nid: {sse_id}\ndata: {data}\n\n".encode()


def test_record_less_messages_do_not_release_a_held_position() -> None:
    held = HeldPositions(window=2)
    out: dict[tuple[str, int], int] = {}
    tp = ("t", 0)
    held.add(tp, 0, 0)              # a keepalive before anything held: released at once
    held.release(out)
    assert out == {tp: 1}
    held.add(tp, 1, 1)              # the move-from
    for off in range(2, 12):        # ten keepalives
        held.add(tp, off, 0)
    held.release(out)
    assert out == {tp: 1}           # still before the move-from
    held.add(tp, 12, 1)
    held.add(tp, 13, 1)
    held.release(out)
    assert out == {tp: 1}           # two records after it: the window (2) may still hold it
    held.add(tp, 14, 1)
    held.release(out)
    assert out == {tp: 12}          # three records after it: paired or emitted; keepalives go with it
    assert held.drain() == {tp: 15}


def test_message_records_counts_as_the_decoder_does_or_lower() -> None:
    assert _message_records(None, "gpfs-watch") == 0
    assert _message_records(b" \n", "gpfs-watch") == 0
    assert _message_records(b"{}", "gpfs-watch") == 1
    assert _message_records(b": keepalive\n\n", "dcache-inotify") == 0
    assert _message_records(b"event: metronome\ndata: {}\n\n", "dcache-inotify") == 1
    assert _message_records(b": keepalive\n\n", "auto") == 0


def source_bytes(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    m = re.search(r'^fastev_source_bytes_total\{source="kafka-0"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_sigkill_after_keepalives_keeps_the_move(broker: Any, new_topic: Any, consume: Any, fastev_run: Any,
                                                 tmp_path: Path) -> None:
    raw, out = new_topic(), new_topic()
    group = f"g-{raw}"
    watches = tmp_path / "watches.json"
    watches.write_text(json.dumps({"W0": INOTIFY_WATCHES["W0"]}))
    port = free_port()
    config = write_config(tmp_path / "run.toml", bootstrap=broker.bootstrap,
                          consumer={"session.timeout.ms": 3000, "heartbeat.interval.ms": 500},
                          sources=[{"type": "kafka", "format": "dcache-inotify", "topics": [raw], "group": group,
                                    "pairing_window": 4, "inotify_watches": str(watches)}],
                          routes=[{"name": "all", "topic": out}],
                          extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    # A move-from, then ten keepalive messages: five SSE comment frames, five tombstones.
    values: list[bytes | None] = [move("IN_MOVED_FROM", "old.h5", 0)]
    values += [b": keepalive\n\n", None] * 5
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for v in values:
        p.produce(raw, v)
    assert p.flush(30) == 0

    first = fastev_run(config)
    total = sum(len(v) for v in values if v is not None)
    wait_for(lambda: source_bytes(port) >= total or first.poll() is not None, 60, "the first run to read it all",
             step=0.1)
    assert first.poll() is None, first.communicate()[1]
    # The old code committed within milliseconds of reading; give a wrong commit ample time to show.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not committed(broker.bootstrap, group, raw, 1).get(0):
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert committed(broker.bootstrap, group, raw, 1).get(0, 0) == 0, "committed past the held move-from"

    p.produce(raw, move("IN_MOVED_TO", "new.h5", 1))
    assert p.flush(30) == 0
    second = fastev_run(config)
    got = consume(out, expected=1, idle_timeout=60)  # after the dead member's session expires
    second.send_signal(signal.SIGTERM)
    code, _, err = finish(second)
    assert code == 0, err
    events = [read_avro(m.value()) for m in got]
    assert [(e["kind"], e["path"].rsplit("/", 1)[-1], (e["old_path"] or "").rsplit("/", 1)[-1]) for e in events] \
        == [("RENAME", "new.h5", "old.h5")]
