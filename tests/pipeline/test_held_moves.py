"""A held move is never committed past: record-less Kafka messages do not advance the pairing window.

The decoder holds an IN_MOVED_FROM for ``pairing_window`` further *records*;
tombstones and SSE comment frames are no records. Were they counted, the offset
past the move would be committed while the decoder still holds it, and a
SIGKILL then loses the old path (MOVED_IN instead of RENAME after restart).
"""
from __future__ import annotations

import importlib
import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from hypothesis import given, settings
from hypothesis import strategies as st

from fastev.bench.records import INOTIFY_WATCHES
from fastev.framing import SSE_STARTS, SseFramer
from fastev.kafka.broker import free_port
from fastev.pipeline.kafka_source import HeldPositions, _message_records

from .conftest import finish, read_avro, wait_for, write_config
from .test_kafka_source import committed

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")
IMPLEMENTATIONS = [importlib.import_module(m) for m in ["fastev._ref.transcoder"]
                   + ([] if NO_EXTENSIONS else ["fastev._core.codec"])]

SUB = "https://frontend.example.org:3880/api/v1/events/channels/Q2hhbm5lbA/subscriptions/inotify/W0"


def move(kind: str, name: str, sse_id: int, eol: str = "\n") -> bytes:
    data = json.dumps({"event": {"name": name, "cookie": "c1", "mask": [kind]}, "subscription": SUB})
    return f"event: inotify{eol}id: {sse_id}{eol}data: {data}{eol}{eol}".encode()


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


def test_message_records_counts_as_the_decoder_does() -> None:
    assert _message_records(None, "gpfs-watch") == 0
    assert _message_records(b" \n", "gpfs-watch") == 0
    assert _message_records(b"{}", "gpfs-watch") == 1
    assert _message_records(b": keepalive\n\n", "dcache-inotify") == 0
    assert _message_records(b"event: metronome\ndata: {}\n\n", "dcache-inotify") == 1
    assert _message_records(b": keepalive\n\n", "auto") == 0
    # W3C SSE line ends: CR alone ends a line too, as the decoder's framer reads it.
    assert _message_records(b"event: inotify\rdata: {}\r\r", "dcache-inotify") == 1
    assert _message_records(b"event: inotify\rdata: {}\r\r", "auto") == 1
    assert _message_records(b"data: 1\r\rdata: 2\n\n: c\r\n\r\ndata: 3", "dcache-inotify") == 3
    # An oversize frame is one (too-large) record to the decoder, data line or not.
    assert _message_records(b": " + b"x" * 100 + b"\n\n", "dcache-inotify", max_record_bytes=10) == 1


def test_every_sse_detection_uses_the_framing_definition() -> None:
    # auto detection decides SSE or JSON lines in four places; one definition keeps them agreeing.
    from fastev._ref import decoder as ref_decoder
    from fastev.pipeline import sources

    modules = [ref_decoder, sources] + [importlib.import_module("fastev._core.codec")] * (not NO_EXTENSIONS)
    assert all(module._SSE_STARTS is SSE_STARTS for module in modules)


# Lines an SSE message may hold, and every line end the framer accepts.
sse_lines = st.one_of(st.sampled_from([b"event: inotify", b"event: metronome", b"data: {}", b"data", b"data:",
                                       b"id: 7", b": keepalive", b":", b"retry: 10", b"datax: 1", b" data: 1"]),
                      st.binary(max_size=8).filter(lambda b: b"\r" not in b and b"\n" not in b))
sse_eols = st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\n", b"\r\r", b"\r\n\r\n"])


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.tuples(sse_lines, sse_eols), max_size=12), fmt=st.sampled_from(["dcache-inotify", "auto"]),
       max_record_bytes=st.sampled_from([16, 1 << 20]))
def test_message_records_counts_sse_frames_exactly_as_the_decoders_do(lines: list[tuple[bytes, bytes]], fmt: str,
                                                                      max_record_bytes: int) -> None:
    value = b"".join(line + eol for line, eol in lines)
    counted = _message_records(value, fmt, max_record_bytes)
    if not value.strip():
        assert counted == 0
        return
    if fmt == "dcache-inotify" or value.lstrip().startswith(SSE_STARTS):
        assert counted == sum(1 for _ in SseFramer(max_record_bytes).feed(value, final=True))
    for impl in IMPLEMENTATIONS:
        decoded = impl.Transcoder(fmt, [], max_record_bytes=max_record_bytes).feed_records([value], [0])
        assert decoded.stats.records == counted, (impl, value)


def source_bytes(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    m = re.search(r'^fastev_source_bytes_total\{source="kafka-0"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


@pytest.mark.parametrize("eol", ["\n", "\r"], ids=["lf", "cr-only"])
def test_sigkill_after_keepalives_keeps_the_move(broker: Any, new_topic: Any, consume: Any, fastev_run: Any,
                                                 tmp_path: Path, eol: str) -> None:
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
    values: list[bytes | None] = [move("IN_MOVED_FROM", "old.h5", 0, eol)]
    values += [f": keepalive{eol}{eol}".encode(), None] * 5
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

    p.produce(raw, move("IN_MOVED_TO", "new.h5", 1, eol))
    assert p.flush(30) == 0
    second = fastev_run(config)
    got = consume(out, expected=1, idle_timeout=60)  # after the dead member's session expires
    second.send_signal(signal.SIGTERM)
    code, _, err = finish(second)
    assert code == 0, err
    events = [read_avro(m.value()) for m in got]
    assert [(e["kind"], e["path"].rsplit("/", 1)[-1], (e["old_path"] or "").rsplit("/", 1)[-1]) for e in events] \
        == [("RENAME", "new.h5", "old.h5")]
