"""A runner's life: SIGTERM lets running actions finish (grace period) and commits, so a restart does not
run them again; an action longer than the grace period is stopped and runs again after the restart; a
duplicated message runs once; the Prometheus endpoint counts what happened."""
from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastev.kafka import EmbeddedBroker
from fastev.kafka.broker import free_port

from .helpers import (
    at_least,
    calls,
    eid,
    event,
    produce,
    produce_events,
    recorder,
    results,
    route_message,
    start_runner,
    stop_runner,
    toml_list,
    wait_for,
)


def write(tmp: Path, bootstrap: str, topic: str, res: str, argv: list[str], *, grace_s: float = 10,
          metrics: int | None = None) -> Path:
    cfg = tmp / "wf.toml"
    cfg.write_text(f'[kafka]\nbootstrap_servers = "{bootstrap}"\n[workflows]\ntopics = ["{topic}"]\n'
                   f'group = "life"\nresults_topic = "{res}"\ngrace_s = {grace_s}\n'
                   + (f'[metrics]\nlisten = "127.0.0.1:{metrics}"\n' if metrics else "")
                   + f'[[workflow]]\nname = "w"\n[workflow.action]\ntype = "command"\nargv = {toml_list(argv)}\n'
                   '[workflow.delivery]\nattempts = 2\nbackoff_initial_s = 0.1\njitter = false\n')
    return cfg


def test_sigterm_lets_running_actions_finish_and_commits(tmp_path: Path, broker: EmbeddedBroker,
                                                         new_topic: Callable[..., str],
                                                         consume: Callable[..., list[Any]]) -> None:
    topic, res = new_topic(), new_topic()
    cmd, log = recorder(tmp_path)
    cfg = write(tmp_path, broker.bootstrap, topic, res, [*cmd, "slow", "{path}"])
    produce_events(broker.bootstrap, topic, [event(1, "/l/slow")])
    proc = start_runner(cfg, env={"SLOW_S": "3"})
    wait_for(lambda: calls(log), 60, "the action to start", proc)
    status, err = stop_runner(proc)          # while the action still runs
    assert status == 0, err
    assert [r["data"]["status"] for r in results(consume(res, expected=1))] == ["succeeded"]
    # restarted: the committed event does not run again; a new one does
    produce_events(broker.bootstrap, topic, [event(2, "/l/next")])
    proc = start_runner(cfg, env={"SLOW_S": "0"})
    try:
        wait_for(at_least(2, lambda: consume(res, expected=2, idle_timeout=0.5)), 60, "the second result", proc)
    finally:
        status, err = stop_runner(proc)
    assert status == 0, err
    assert [c["id"] for c in calls(log)] == [eid(1), eid(2)]


def test_an_action_longer_than_the_grace_period_runs_again_after_restart(
        tmp_path: Path, broker: EmbeddedBroker, new_topic: Callable[..., str],
        consume: Callable[..., list[Any]]) -> None:
    topic, res = new_topic(), new_topic()
    cmd, log = recorder(tmp_path)
    cfg = write(tmp_path, broker.bootstrap, topic, res, [*cmd, "slow", "{path}"], grace_s=1)
    produce_events(broker.bootstrap, topic, [event(1, "/l/long")])
    proc = start_runner(cfg, env={"SLOW_S": "30"})
    wait_for(lambda: calls(log), 60, "the action to start", proc)
    status, err = stop_runner(proc, timeout=20)
    assert status == 0, err
    assert consume(res, idle_timeout=0.5) == []   # no outcome: not committed
    proc = start_runner(cfg, env={"SLOW_S": "0"})
    try:
        got = wait_for(at_least(1, lambda: consume(res, expected=1, idle_timeout=0.5)), 60, "the result", proc)
    finally:
        status, err = stop_runner(proc)
    assert status == 0, err
    assert [r["data"]["status"] for r in results(got)] == ["succeeded"]
    assert [c["id"] for c in calls(log)] == [eid(1), eid(1)]


def test_a_duplicated_message_runs_once_and_metrics_count_it(tmp_path: Path, broker: EmbeddedBroker,
                                                             new_topic: Callable[..., str],
                                                             consume: Callable[..., list[Any]]) -> None:
    topic, res = new_topic(), new_topic()
    cmd, log = recorder(tmp_path)
    port = free_port()
    cfg = write(tmp_path, broker.bootstrap, topic, res, [*cmd, "fail", "{path}"], metrics=port)
    ev = event(1, "/l/dup")
    produce(broker.bootstrap, topic, [(ev["path"], route_message(ev)), (ev["path"], route_message(ev)),
                                      ("/l/other", route_message(event(2, "/l/other")))])
    proc = start_runner(cfg)
    try:
        wait_for(at_least(2, lambda: consume(res, expected=2, idle_timeout=0.5)), 60, "two results", proc)
        text = wait_for(lambda: (lambda t: t if 'fastev_workflow_dead_total{reason="failed",workflow="w"} 2.0' in t
                                 else None)(_scrape(port)), 30, "the dead count in /metrics", proc)
    finally:
        status, err = stop_runner(proc)
    assert status == 0, err
    assert sorted(c["id"] for c in calls(log)) == [eid(1), eid(1), eid(2), eid(2)]   # 2 attempts each, once
    assert 'fastev_workflow_matched_total{workflow="w"} 2.0' in text
    assert 'fastev_workflow_started_total{workflow="w"} 4.0' in text
    assert 'fastev_workflow_retried_total{workflow="w"} 2.0' in text
    assert "fastev_workflow_event_to_outcome_seconds_count" in text
    assert "w: 2 matched, 0 succeeded, 2 dead (failed 2), 2 retried" in err


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def test_a_terminal_shows_the_live_table(tmp_path: Path, broker: EmbeddedBroker, new_topic: Callable[..., str],
                                         consume: Callable[..., list[Any]]) -> None:
    import os
    import pty
    import signal
    import subprocess
    import sys
    import threading

    from .helpers import REPO

    topic, res = new_topic(), new_topic()
    cmd, _log = recorder(tmp_path)
    cfg = write(tmp_path, broker.bootstrap, topic, res, [*cmd, "ok", "{path}"])
    produce_events(broker.bootstrap, topic, [event(1, "/t/a"), event(2, "/t/b")])
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "fastev", "workflow", "run", "--config", str(cfg)],
                            cwd=str(REPO), env={**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "120"},
                            stdout=subprocess.DEVNULL, stderr=follower, start_new_session=True)
    os.close(follower)
    screen = bytearray()

    def drain() -> None:  # read while it runs: a full pty would block the runner's redraws
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the runner exited and closed its end
                return
            if not chunk:
                return
            screen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        wait_for(at_least(2, lambda: consume(res, expected=2, idle_timeout=0.5)), 60, "two results", proc)
        time.sleep(1.5)  # a refresh after the outcomes
    finally:
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(60)
    reader.join(10)
    os.close(leader)
    text = screen.decode("utf-8", "replace")
    assert status == 0, text
    assert "fastev workflows" in text and "succeeded" in text and "in flight" in text
    row = [line for line in text.splitlines() if "│ w " in line or "┃ w " in line]
    assert row and "2" in row[-1], text
