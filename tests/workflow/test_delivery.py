"""``[workflow.delivery]`` end to end: the concurrency cap, the rate limit, expiry, webhook batches with
per-item failures, and the webhook's signature checked by a real receiver."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastev.kafka import EmbeddedBroker

from .helpers import (
    ThreadedReceiver,
    at_least,
    calls,
    eid,
    event,
    headers,
    produce_events,
    recorder,
    results,
    start_runner,
    stop_runner,
    toml_list,
    wait_for,
)


def write(tmp: Path, bootstrap: str, topic: str, res: str, dead: str, workflow: str) -> Path:
    cfg = tmp / "wf.toml"
    cfg.write_text(f'[kafka]\nbootstrap_servers = "{bootstrap}"\n[workflows]\ntopics = ["{topic}"]\n'
                   f'group = "delivery"\nresults_topic = "{res}"\ndead_letter_topic = "{dead}"\ngrace_s = 5\n'
                   f'[[workflow]]\nname = "w"\n{workflow}')
    return cfg


def test_concurrency_cap_and_rate_limit(tmp_path: Path, broker: EmbeddedBroker, new_topic: Callable[..., str],
                                        consume: Callable[..., list[Any]]) -> None:
    topic, res, dead = new_topic(2), new_topic(), new_topic()
    cmd, log = recorder(tmp_path)
    cfg = write(tmp_path, broker.bootstrap, topic, res, dead,
                f'[workflow.action]\ntype = "command"\nargv = {toml_list([*cmd, "span", "{path}"])}\n'
                '[workflow.delivery]\nconcurrency = 3\nordering = "none"\nrate_per_s = 10\n')
    n = 30
    produce_events(broker.bootstrap, topic, [event(i, f"/d/{i}") for i in range(n)])
    proc = start_runner(cfg, env={"SLOW_S": "0.3"})
    try:
        wait_for(at_least(n, lambda: consume(res, expected=n, idle_timeout=0.5)), 120, "all results", proc)
    finally:
        status, err = stop_runner(proc)
    assert status == 0, err
    spans = [json.loads(line) for line in (log.parent / (log.name + ".spans")).read_text().splitlines()]
    assert len(spans) == n
    # never more than 3 running at once
    points = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans])
    running = peak = 0
    for _t, step in points:
        running += step
        peak = max(peak, running)
    assert 1 <= peak <= 3
    # never more starts in a window than the bucket allows: burst (10) + rate x window, +1 for clock slack
    starts = sorted(c["t"] for c in calls(log))
    for i in range(len(starts)):
        for j in range(i, len(starts)):
            assert j - i + 1 <= 10 + 10 * (starts[j] - starts[i]) + 1


def test_old_events_expire_without_running(tmp_path: Path, broker: EmbeddedBroker, new_topic: Callable[..., str],
                                           consume: Callable[..., list[Any]]) -> None:
    topic, res, dead = new_topic(), new_topic(), new_topic()
    cmd, log = recorder(tmp_path)
    cfg = write(tmp_path, broker.bootstrap, topic, res, dead,
                f'[workflow.action]\ntype = "command"\nargv = {toml_list([*cmd, "ok", "{path}"])}\n'
                '[workflow.delivery]\nmax_age_s = 3600\n')
    old = event(1, "/d/old", time_us=time.time_ns() // 1000 - 2 * 86400 * 10**6)
    produce_events(broker.bootstrap, topic, [old, event(2, "/d/new")])
    proc = start_runner(cfg)
    try:
        got = wait_for(at_least(2, lambda: consume(res, expected=2, idle_timeout=0.5)), 90, "two results", proc)
    finally:
        status, err = stop_runner(proc)
    assert status == 0, err
    by_id = {r["data"]["event_id"]: r["data"] for r in results(got)}
    assert (by_id[eid(1)]["status"], by_id[eid(1)]["reason"]) == ("dead", "expired")
    assert by_id[eid(2)]["status"] == "succeeded"
    assert [c["id"] for c in calls(log)] == [eid(2)]
    assert [headers(m)["fastev_reason"] for m in consume(dead, expected=1)] == ["expired"]


def test_webhook_batches_retry_only_the_failed_items(tmp_path: Path, broker: EmbeddedBroker,
                                                     new_topic: Callable[..., str],
                                                     consume: Callable[..., list[Any]]) -> None:
    topic, res, dead = new_topic(2), new_topic(), new_topic()
    hook = ThreadedReceiver().up()
    n = 60
    events = [event(i, f"/b/{i}") for i in range(n)]
    hook.fail_once = {e["id"] for e in events[::7]}
    cfg = write(tmp_path, broker.bootstrap, topic, res, dead,
                f'[workflow.action]\ntype = "webhook"\nurl = "{hook.url}"\nbatch = {{ max_events = 16, '
                'max_wait_ms = 100 }\n[workflow.delivery]\nordering = "none"\nbackoff_initial_s = 0.1\n'
                'jitter = false\n')
    try:
        produce_events(broker.bootstrap, topic, events)
        proc = start_runner(cfg)
        try:
            got = wait_for(at_least(n, lambda: consume(res, expected=n, idle_timeout=0.5)), 90, "all results", proc)
        finally:
            status, err = stop_runner(proc)
    finally:
        hook.close()
    assert status == 0, err
    data = {r["data"]["event_id"]: r["data"] for r in results(got)}
    assert all(d["status"] == "succeeded" for d in data.values()) and len(data) == n
    assert {i for i, d in data.items() if d["attempts"] == 2} == hook.fail_once
    assert sorted(hook.failed) == sorted(hook.fail_once)
    assert sorted(r["id"] for r in hook.delivered()) == sorted(e["id"] for e in events)


def test_webhook_structured_and_signed(tmp_path: Path, broker: EmbeddedBroker, new_topic: Callable[..., str],
                                       consume: Callable[..., list[Any]]) -> None:
    """The receiver checks the HMAC over the exact body and the Bearer token; a 400 is dead at once."""
    import asyncio
    import threading

    from aiohttp import web

    from fastev.kafka.broker import free_port

    topic, res, dead = new_topic(), new_topic(), new_topic()
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "token").write_text("tok-1\n")
    seen: list[dict[str, Any]] = []
    port = free_port()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        mac = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        ok = (request.headers.get("X-Fastev-Signature") == f"sha256={mac}"
              and request.headers.get("Authorization") == "Bearer tok-1"
              and request.headers["Content-Type"].startswith("application/cloudevents+json"))
        ce = json.loads(body)
        seen.append(ce)
        if not ok:
            return web.Response(status=401)
        return web.json_response({"placed": ce["subject"]}, status=400 if ce["subject"].endswith("bad") else 200)

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(web.Application(), access_log=None)
    runner.app.router.add_post("/hook", handle)
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    cfg = write(tmp_path, broker.bootstrap, topic, res, dead,
                f'[workflow.action]\ntype = "webhook"\nurl = "http://127.0.0.1:{port}/hook"\n'
                'token_file = "token"\nhmac_secret_file = "secret"\n')
    events = [event(1, "/s/good"), event(2, "/s/bad")]
    try:
        produce_events(broker.bootstrap, topic, events)
        proc = start_runner(cfg)
        try:
            got = wait_for(at_least(2, lambda: consume(res, expected=2, idle_timeout=0.5)), 90, "two results", proc)
        finally:
            status, err = stop_runner(proc)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
    assert status == 0, err
    data = {r["data"]["event_id"]: r["data"] for r in results(got)}
    assert data[eid(1)]["status"] == "succeeded" and data[eid(1)]["output"] == {"placed": "/s/good"}
    assert data[eid(1)]["http_status"] == 200
    assert (data[eid(2)]["status"], data[eid(2)]["reason"], data[eid(2)]["attempts"]) == ("dead", "rejected", 1)
    assert len(seen) == 2
    for ce in seen:
        ev = next(e for e in events if e["id"] == ce["id"])
        assert ce["type"] == "org.fastev.storage.UPLOAD" and ce["subject"] == ev["path"] and ce["data"] == ev
