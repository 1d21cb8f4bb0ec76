"""The command action end to end: a real broker, a real ``fastev workflow run`` process, real child processes."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastev.kafka import EmbeddedBroker

from .helpers import (
    at_least,
    calls,
    eid,
    event,
    headers,
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

DELIVERY = """[workflow.delivery]
concurrency = 4
attempts = 3
backoff = "linear"
backoff_initial_s = 0.1
backoff_max_s = 0.3
jitter = false
"""


def command_workflow(name: str, prefix: str, argv: list[str], extra_match: str = "", timeout_s: float = 30) -> str:
    return (f'[[workflow]]\nname = "{name}"\n[workflow.match]\npaths = {toml_list([prefix])}\n{extra_match}'
            f'[workflow.action]\ntype = "command"\nargv = {toml_list(argv)}\ntimeout_s = {timeout_s}\n{DELIVERY}')


def write_config(tmp: Path, bootstrap: str, topic: str, body: str, *, results: str, dead: str,
                 group: str = "wf") -> Path:
    cfg = tmp / "workflows.toml"
    cfg.write_text(f'[kafka]\nbootstrap_servers = "{bootstrap}"\n[workflows]\ntopics = ["{topic}"]\n'
                   f'group = "{group}"\nresults_topic = "{results}"\ndead_letter_topic = "{dead}"\ngrace_s = 5\n'
                   + body)
    return cfg


def test_command_outcomes(tmp_path: Path, broker: EmbeddedBroker, new_topic: Callable[..., str],
                          consume: Callable[..., list[Any]]) -> None:
    topic, res, dead = new_topic(2), new_topic(), new_topic()
    cmd, log = recorder(tmp_path)
    body = (command_workflow("ok", "/data/ok", [*cmd, "ok", "{path}", "{name}"], 'kinds = ["UPLOAD"]\n')
            + command_workflow("temp", "/data/temp", [*cmd, "tempfail-once", "{path}"])
            + command_workflow("fail", "/data/fail", [*cmd, "fail", "{path}"])
            + command_workflow("hang", "/data/hang", [*cmd, "hang", "{path}"], timeout_s=1))
    cfg = write_config(tmp_path, broker.bootstrap, topic, body, results=res, dead=dead)
    hostile = "/data/ok/run 1/a b'\";$(touch pwned)\n`x`.root"
    events = [event(1, hostile), event(2, "/data/ok/skip.root", kind="DELETE"), event(3, "/data/temp/t.h5"),
              event(4, "/data/fail/f.h5"), event(5, "/data/hang/h.h5"), event(6, "/elsewhere/x")]
    produce_events(broker.bootstrap, topic, events)
    proc = start_runner(cfg)
    try:
        got = wait_for(at_least(4, lambda: consume(res, expected=4, idle_timeout=0.5)), 90, "four results", proc)
    finally:
        status, err = stop_runner(proc)
    assert status == 0, err
    by_id = {r["data"]["event_id"]: r for r in results(got)}
    assert set(by_id) == {eid(1), eid(3), eid(4), eid(5)}
    ok = by_id[eid(1)]
    assert ok["type"] == "org.fastev.workflow.succeeded" and ok["subject"] == hostile
    assert ok["id"] == f"ok/{eid(1)}" and ok["specversion"] == "1.0"
    assert ok["data"]["output"] == {"seen": hostile, "adler32": "0abc1234"}
    assert ok["data"]["attempts"] == 1 and ok["data"]["exit_code"] == 0 and ok["data"]["event"] == events[0]
    assert by_id[eid(3)]["data"]["status"] == "succeeded" and by_id[eid(3)]["data"]["attempts"] == 2
    fail = by_id[eid(4)]["data"]
    assert (fail["status"], fail["reason"], fail["attempts"], fail["exit_code"]) == ("dead", "failed", 3, 3)
    hang = by_id[eid(5)]["data"]
    assert (hang["status"], hang["reason"], hang["attempts"]) == ("dead", "timeout", 3)
    # The hostile path arrived as one argument, its last component as another; no shell ran.
    ran = calls(log)
    first = [c for c in ran if c["id"] == eid(1)]
    assert len(first) == 1 and first[0]["args"] == [hostile, hostile.rsplit("/", 1)[1]]
    assert not (tmp_path / "pwned").exists() and not (Path.cwd() / "pwned").exists()
    assert {c["id"] for c in ran} == {eid(1), eid(3), eid(4), eid(5)}
    assert [c["attempt"] for c in ran if c["id"] == eid(3)] == [1, 2]
    # Timeouts killed the whole process group: the children the command spawned are gone.
    children = [int(p) for p in (log.parent / (log.name + ".children")).read_text().split()]
    assert len(children) == 3
    for pid in children:
        wait_for(lambda pid=pid: not _alive(pid), 10, f"child {pid} killed")
    # Dead letters: the original message bytes, with the reason, workflow and attempts.
    letters = consume(dead, expected=2)
    by_reason = {headers(m)["fastev_reason"]: m for m in letters}
    assert set(by_reason) == {"failed", "timeout"}
    assert by_reason["failed"].value() == route_message(events[3])
    assert headers(by_reason["failed"])["fastev_workflow"] == "fail"
    assert headers(by_reason["failed"])["fastev_attempts"] == "3"
    assert by_reason["failed"].key() == b"/data/fail/f.h5"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its (killed) parent's reaper counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_route_formats_and_invalid_messages(tmp_path: Path, broker: EmbeddedBroker, new_topic: Callable[..., str],
                                            consume: Callable[..., list[Any]]) -> None:
    topic, res, dead = new_topic(), new_topic(), new_topic()
    cmd, log = recorder(tmp_path)
    cfg = write_config(tmp_path, broker.bootstrap, topic, command_workflow("all", "/", [*cmd, "ok", "{path}"]),
                       results=res, dead=dead)
    evs = [event(i, f"/f/{i}") for i in range(3)]
    produce(broker.bootstrap, topic, [("/f/0", route_message(evs[0], "avro")), (None, b"not an event at all"),
                                      ("/f/1", route_message(evs[1], "confluent")),
                                      ("/f/2", route_message(evs[2], "ocf")), (None, route_message(evs[0])[:-3])])
    proc = start_runner(cfg)
    try:
        got = wait_for(at_least(3, lambda: consume(res, expected=3, idle_timeout=0.5)), 90, "three results", proc)
        letters = wait_for(at_least(2, lambda: consume(dead, expected=2, idle_timeout=0.5)), 30, "dead letters",
                           proc)
    finally:
        status, err = stop_runner(proc)
    assert status == 0, err
    assert sorted(r["data"]["event_id"] for r in results(got)) == [e["id"] for e in evs]
    assert [headers(m)["fastev_reason"] for m in letters] == ["invalid", "invalid"]
    assert letters[0].value() == b"not an event at all"
    assert "not a StorageEvent" in err and "offset 1" in err


def test_chained_workflow_gets_the_upstream_output(tmp_path: Path, broker: EmbeddedBroker,
                                                   new_topic: Callable[..., str],
                                                   consume: Callable[..., list[Any]]) -> None:
    topic, res, dead = new_topic(), new_topic(), new_topic()
    cmd, log = recorder(tmp_path)
    body = (command_workflow("checksum", "/raw", [*cmd, "ok", "{path}"])
            + command_workflow("place", "/raw", [*cmd, "ok", "{path}", "{output.adler32}"],
                               'after = "checksum"\n'))
    cfg = write_config(tmp_path, broker.bootstrap, topic, body, results=res, dead=dead)
    produce_events(broker.bootstrap, topic, [event(1, "/raw/a.h5"), event(2, "/other/b.h5")])
    proc = start_runner(cfg)
    try:
        got = wait_for(at_least(2, lambda: consume(res, expected=2, idle_timeout=0.5)), 90, "two results", proc)
    finally:
        status, err = stop_runner(proc)
    assert status == 0, err
    assert sorted(r["data"]["workflow"] for r in results(got)) == ["checksum", "place"]
    place = [c for c in calls(log) if c["workflow"] == "place"]
    assert [c["args"] for c in place] == [["/raw/a.h5", "0abc1234"]]
