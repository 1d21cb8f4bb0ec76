"""Faults: every matching event reaches a terminal outcome at least once, nothing non-matching runs, and
per-path order holds: the runner SIGKILLed at random points and restarted, the broker SIGSTOPped, the
webhook receiver down, a group member killed while another takes over its partitions.

These exercise the engine, not the codec: they run in the native pass of ``make test`` only.
"""
from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fastev.kafka import EmbeddedBroker

from ..conftest import NATIVE_EXPECTED
from .helpers import (
    ThreadedReceiver,
    calls,
    event,
    order_violations,
    produce_events,
    recorder,
    results,
    start_runner,
    stop_runner,
    toml_list,
    wait_for,
)

pytestmark = pytest.mark.skipif(not NATIVE_EXPECTED, reason="engine faults: run once, in the native pass")

PATHS = 12
PER_PATH = 6


def workload(first: int = 0) -> tuple[list[dict[str, Any]], dict[str, list[str]], set[str]]:
    """Events on PATHS paths, PER_PATH each, interleaved; every 5th a DELETE (matches no workflow)."""
    events, expected, matching = [], {}, set()
    n = first
    for _round in range(PER_PATH):
        for p in range(PATHS):
            path = f"/data/run/p{p:02d}.h5"
            kind = "DELETE" if (n % 5) == 4 else "UPLOAD"
            ev = event(n, path, kind=kind)
            events.append(ev)
            if kind == "UPLOAD":
                expected.setdefault(path, []).append(ev["id"])
                matching.add(ev["id"])
            n += 1
    return events, expected, matching


def config(tmp: Path, bootstrap: str, topic: str, res: str, action: str, group: str = "wf-faults") -> Path:
    cfg = tmp / "workflows.toml"
    cfg.write_text(f"""[kafka]
bootstrap_servers = "{bootstrap}"
[kafka.consumer]
"session.timeout.ms" = 6000
[workflows]
topics = ["{topic}"]
group = "{group}"
results_topic = "{res}"
grace_s = 2
[[workflow]]
name = "process"
[workflow.match]
kinds = ["UPLOAD"]
paths = ["/data/run"]
{action}
[workflow.delivery]
concurrency = 8
ordering = "path"
attempts = 1000
backoff = "exponential"
backoff_initial_s = 0.2
backoff_max_s = 2
jitter = true
""")
    return cfg


def command_action(cmd: list[str]) -> str:
    return f'[workflow.action]\ntype = "command"\nargv = {toml_list([*cmd, "slow", "{path}"])}\ntimeout_s = 30\n'


def succeeded_ids(consume: Callable[..., list[Any]], res: str) -> set[str]:
    got = results(consume(res, idle_timeout=0.3))
    return {r["data"]["event_id"] for r in got if r["data"]["status"] == "succeeded"}


def check(ran: list[dict[str, Any]], expected: dict[str, list[str]], matching: set[str], done: set[str]) -> None:
    assert done >= matching, f"{len(matching - done)} matching events without a succeeded outcome"
    assert {c["id"] for c in ran} <= matching, "a non-matching event ran"
    assert order_violations(ran, expected) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_random_points_and_restart(seed: int, tmp_path: Path, broker: EmbeddedBroker,
                                              new_topic: Callable[..., str], consume: Callable[..., list[Any]]) -> None:
    rng = random.Random(seed)
    topic, res = new_topic(3), new_topic()
    cmd, log = recorder(tmp_path)
    cfg = config(tmp_path, broker.bootstrap, topic, res, command_action(cmd), group=f"kill-{seed}")
    events, expected, matching = workload()
    produce_events(broker.bootstrap, topic, events)
    env = {"SLOW_S": "0.05"}
    for _round in range(3):
        proc = start_runner(cfg, env=env)
        time.sleep(rng.uniform(1.0, 5.0))
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and the actions it was running
        proc.wait()
    proc = start_runner(cfg, env=env)
    try:
        wait_for(lambda: succeeded_ids(consume, res) >= matching, 180, "every matching event succeeded", proc)
    finally:
        status, err = stop_runner(proc)
    assert status == 0, err
    check(calls(log), expected, matching, succeeded_ids(consume, res))


def test_broker_stopped_for_ten_seconds(tmp_path: Path, broker: EmbeddedBroker, new_topic: Callable[..., str],
                                        consume: Callable[..., list[Any]]) -> None:
    topic, res = new_topic(2), new_topic()
    cmd, log = recorder(tmp_path)
    cfg = config(tmp_path, broker.bootstrap, topic, res, command_action(cmd), group="sigstop")
    events, expected, matching = workload()
    half = len(events) // 2
    produce_events(broker.bootstrap, topic, events[:half])
    proc = start_runner(cfg, env={"SLOW_S": "0.02"})
    try:
        wait_for(lambda: len(calls(log)) >= 5, 60, "the first actions", proc)
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            time.sleep(10)
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        produce_events(broker.bootstrap, topic, events[half:])
        wait_for(lambda: succeeded_ids(consume, res) >= matching, 180, "every matching event succeeded", proc)
    finally:
        status, err = stop_runner(proc)
    assert status == 0, err
    check(calls(log), expected, matching, succeeded_ids(consume, res))


def test_webhook_receiver_down_for_twenty_seconds(tmp_path: Path, broker: EmbeddedBroker,
                                                  new_topic: Callable[..., str],
                                                  consume: Callable[..., list[Any]]) -> None:
    topic, res = new_topic(2), new_topic()
    hook = ThreadedReceiver().up()
    action = f'[workflow.action]\ntype = "webhook"\nurl = "{hook.url}"\nmode = "binary"\ntimeout_s = 5\n'
    cfg = config(tmp_path, broker.bootstrap, topic, res, action, group="hook-down")
    events, expected, matching = workload()
    try:
        produce_events(broker.bootstrap, topic, events[:20])
        proc = start_runner(cfg)
        try:
            wait_for(lambda: len(hook.delivered()) >= 5, 60, "the first requests", proc)
            hook.down()
            produce_events(broker.bootstrap, topic, events[20:])
            time.sleep(20)
            hook.up()
            wait_for(lambda: succeeded_ids(consume, res) >= matching, 180, "every matching event succeeded", proc)
        finally:
            status, err = stop_runner(proc)
    finally:
        hook.close()
    assert status == 0, err
    got = hook.delivered()
    check(got, expected, matching, {r["id"] for r in got})


def test_two_runners_in_one_group_one_killed(tmp_path: Path, broker: EmbeddedBroker, new_topic: Callable[..., str],
                                             consume: Callable[..., list[Any]]) -> None:
    topic, res = new_topic(4), new_topic()
    cmd, log = recorder(tmp_path)
    cfg = config(tmp_path, broker.bootstrap, topic, res, command_action(cmd), group="pair")
    events, expected, matching = workload()
    env = {"SLOW_S": "0.2"}
    a, b = start_runner(cfg, env=env), start_runner(cfg, env=env)
    try:
        # both members joined before anything is there to read: the partitions are shared out
        time.sleep(8)
        produce_events(broker.bootstrap, topic, events)
        wait_for(lambda: len({c["pid"] for c in calls(log)}) >= 2 or len(calls(log)) >= 20, 60, "actions", b)
        os.killpg(a.pid, signal.SIGKILL)
        a.wait()
        wait_for(lambda: succeeded_ids(consume, res) >= matching, 180, "every matching event succeeded", b)
    finally:
        if a.poll() is None:
            os.killpg(a.pid, signal.SIGKILL)
            a.wait()
        status, err = stop_runner(b)
    assert status == 0, err
    check(calls(log), expected, matching, succeeded_ids(consume, res))
