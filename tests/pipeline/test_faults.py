"""Fault tests: no acknowledged input is lost (every input id arrives at least once)."""
from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fastev.pipeline import load_config
from fastev.pipeline.checkpoint import FileCheckpoints

from .conftest import finish, header, wait_for, write_config


def billing_config(tmp_path: Path, bootstrap: str, path: Path, topic: str, **kw: Any) -> Path:
    return write_config(tmp_path / "run.toml", bootstrap=bootstrap, routes=[{"name": "all", "topic": topic}],
                        sources=[{"type": "file", "format": "dcache-billing", "paths": [str(path)]}], **kw)


def test_broker_frozen_for_10_s_mid_run(broker: Any, new_topic: Any, consume: Any, fastev_run: Any,
                                        big_billing: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, ids = big_billing
    topic = new_topic(partitions=2)
    config = billing_config(tmp_path, broker.bootstrap, path, topic)
    state = FileCheckpoints(load_config(config).state_dir)
    proc = fastev_run(config)
    # Freeze once the first chunk is acknowledged (mid-run), for 10 s, then thaw.
    wait_for(lambda: (state.offset(path) or 0) > 0 or proc.poll() is not None, 60, "a first checkpoint")
    assert proc.poll() is None, "the run ended before the broker could be frozen: make the input larger"
    broker.freeze()
    t0 = time.monotonic()
    try:
        # Acknowledgements the broker sent before the freeze may still be served (a slow decode of the
        # next chunk delays them): wait until the checkpoint stops moving, then it must stay put.
        last, since = state.offset(path), time.monotonic()
        while time.monotonic() - since < 2 and time.monotonic() - t0 < 7:
            time.sleep(0.1)
            if state.offset(path) != last:
                last, since = state.offset(path), time.monotonic()
        frozen_at = state.offset(path)
        time.sleep(max(0.0, 10 - (time.monotonic() - t0)))  # frozen for 10 s in all
        assert proc.poll() is None  # waits for the broker; never gives up, never drops
        assert state.offset(path) == frozen_at  # nothing acknowledged, nothing checkpointed
    finally:
        broker.thaw()
    code, out, err = finish(proc)
    assert code == 0, err
    assert state.offset(path) == path.stat().st_size
    got = Counter(header(m, "ce_id") for m in consume(topic, expected=len(ids)))
    assert set(got) == set(ids)


def test_sigkill_mid_run_then_restart_on_the_checkpoint(broker: Any, new_topic: Any, consume: Any,
                                                        fastev_run: Any, big_billing: tuple[Path, list[str]],
                                                        tmp_path: Path) -> None:
    path, ids = big_billing
    size = path.stat().st_size
    topic = new_topic(partitions=2)
    config = billing_config(tmp_path, broker.bootstrap, path, topic)
    state = FileCheckpoints(load_config(config).state_dir)
    proc = fastev_run(config)
    wait_for(lambda: (state.offset(path) or 0) > 0 or proc.poll() is not None, 60, "a first checkpoint")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = state.offset(path)
    assert killed_at is not None and 0 < killed_at < size, "killed too late: make the input larger"
    # What was checkpointed is on the topic already (acknowledged before the checkpoint).
    data = path.read_bytes()
    committed = data[:killed_at].count(b"\n")
    assert killed_at == size or data[killed_at - 1:killed_at] == b"\n"  # a record boundary
    first = Counter(header(m, "ce_id") for m in consume(topic, expected=committed))
    assert set(ids[:committed]) <= set(first)

    code, out, err = finish(fastev_run(config))
    assert code == 0, err
    assert f"resuming at byte {killed_at}" in err
    got = Counter(header(m, "ce_id") for m in consume(topic, expected=len(ids)))
    assert set(got) == set(ids)  # every input id at least once
    # Duplicates only from the uncommitted tail: the second run re-sent nothing before the checkpoint.
    assert all(got[i] == 1 for i in ids[:committed])
    assert sum(got.values()) - len(ids) <= len(ids) - committed


def test_a_full_producer_queue_pauses_and_loses_nothing(broker: Any, new_topic: Any, consume: Any,
                                                        fastev_run: Any, big_billing: tuple[Path, list[str]],
                                                        tmp_path: Path) -> None:
    path, ids = big_billing
    small = tmp_path / "small.jsonl"
    n = min(20000, len(ids) // 2)
    small.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:n]))
    topic = new_topic()
    config = billing_config(tmp_path, broker.bootstrap, small, topic,
                            producer={"queue.buffering.max.messages": 50, "linger.ms": 1})
    code, out, err = finish(fastev_run(config))
    assert code == 0, err
    assert "route all -> " in out and f"delivered {n} events" in out
    got = Counter(header(m, "ce_id") for m in consume(topic, expected=n))
    assert got == Counter(ids[:n])  # every one, exactly once


def test_sigterm_drains_a_file_run_and_checkpoints_what_was_sent(broker: Any, new_topic: Any, consume: Any,
                                                                 fastev_run: Any,
                                                                 big_billing: tuple[Path, list[str]],
                                                                 tmp_path: Path) -> None:
    path, ids = big_billing
    topic = new_topic()
    config = billing_config(tmp_path, broker.bootstrap, path, topic)
    state = FileCheckpoints(load_config(config).state_dir)
    proc = fastev_run(config)
    wait_for(lambda: (state.offset(path) or 0) > 0 or proc.poll() is not None, 60, "a first checkpoint")
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    assert code == 0, err
    stopped_at = state.offset(path)
    assert stopped_at is not None
    committed = path.read_bytes()[:stopped_at].count(b"\n")
    got = Counter(header(m, "ce_id") for m in consume(topic, expected=committed))
    assert set(ids[:committed]) <= set(got)
