"""SSE fed by the pipeline: `fastev run` with [sse] (in-process) and `fastev serve` (from Kafka), real broker,
real subprocesses, real HTTP clients."""
# ruff: noqa: F811 - the broker fixtures are imported, then requested by name
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from confluent_kafka import Producer
from cryptography.hazmat.primitives.asymmetric import rsa

from fastev import decode
from fastev.avro import encode_event
from fastev.kafka.broker import free_port
from fastev.sse.ids import EventIds

from ..kafka.conftest import FILES, broker, new_topic  # noqa: F401 - fixtures
from ..pipeline.conftest import ENV, run_command, toml_table
from .helpers import AUDIENCE, ISSUER, Stream, claims, event, rs256

SSE = """
[sse]
listen = "127.0.0.1:{port}"
replay = 1000
keepalive_s = 1
id_key_file = "sse-id.key"

[sse.auth]
mode = "scopes"
scope_base = "/"
jwt_algorithms = ["RS256"]
jwt_public_keys = ["{pem}"]
issuer = "{issuer}"
audience = "{audience}"
"""


def sse_section(port: int, pem: Path) -> str:
    return SSE.format(port=port, pem=pem.name, issuer=ISSUER, audience=AUDIENCE)


def serve_command() -> list[str]:
    from fastev.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    if "serve" in getattr(sub, "choices", {}):
        return [sys.executable, "-m", "fastev", "serve"]
    return [sys.executable, "-m", "fastev.commands.serve_cmd"]


@pytest.fixture()
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def spawn(procs: list[subprocess.Popen[str]], cmd: list[str]) -> subprocess.Popen[str]:
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    return p


def wait_serving(p: subprocess.Popen[str], timeout: float = 30) -> list[str]:
    """Read stderr until the process says where SSE is served."""
    assert p.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        if not line:
            raise AssertionError(f"exited {p.wait(5)} before serving: {lines}")
        lines.append(line)
        if "SSE on http://" in line:
            return lines
    raise AssertionError(f"not serving after {timeout} s: {lines}")


def stop(p: subprocess.Popen[str]) -> tuple[int, str]:
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    return p.returncode, err


def serve_ids(config: Path, topic: str) -> EventIds:
    """The id codec `fastev serve` uses for ``topic`` (the key file the config names, next to it)."""
    return EventIds((config.parent / "sse-id.key").read_bytes(), f"kafka-topic:{topic}")


async def open_stream(session: aiohttp.ClientSession, port: int, token: str | None, ids: EventIds | None = None,
                      **params: str) -> tuple[int, Stream | None]:
    headers = {"Accept": "text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if "last" in params:
        headers["Last-Event-ID"] = params.pop("last")
    for _ in range(50):
        try:
            resp = await session.get(f"http://127.0.0.1:{port}/events", headers=headers, params=params)
            break
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)
    else:
        raise AssertionError("SSE server not reachable")
    if resp.status != 200:
        resp.release()
        return resp.status, None
    s = Stream(resp, ids)
    s.task = asyncio.create_task(s._read())
    await s.wait_for(lambda s: "connected" in s.comments)
    return 200, s


def arun(coro: Any, timeout: float = 60) -> Any:
    async def bounded() -> Any:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as session:
            return await asyncio.wait_for(coro(session), timeout)
    return asyncio.run(bounded())


def test_fastev_run_with_sse_serves_the_file_events_and_keeps_serving(
        broker: Any, new_topic: Any, procs: list[subprocess.Popen[str]], samples: Path, tmp_path: Path,
        pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    shutil.copy(samples / FILES["dcache-billing"], tmp_path / "billing.jsonl")
    expected = [e.to_dict() for e in decode((tmp_path / "billing.jsonl").read_bytes(), "dcache-billing").events]
    assert expected
    topic = new_topic()
    port = free_port()
    config = tmp_path / "run.toml"
    config.write_text(toml_table("[kafka]", {"bootstrap_servers": broker.bootstrap})
                      + toml_table("[[source]]", {"type": "file", "format": "dcache-billing",
                                                  "paths": ["billing.jsonl"]})
                      + toml_table("[[route]]", {"name": "all", "topic": topic})
                      + sse_section(port, pem_file), "utf-8")
    p = spawn(procs, [*run_command(), "--config", str(config), "--no-progress"])
    wait_serving(p)
    token = rs256(signing_key, claims(scope="storage.read:/"))

    async def client(session: aiohttp.ClientSession) -> tuple[list[Any], list[Any], int]:
        status, _ = await open_stream(session, port, None)
        assert status == 401
        _, s = await open_stream(session, port, token, **{"from": "earliest"})
        assert s is not None
        await s.wait_for(lambda s: len(s.raw_ids()) >= len(expected), timeout=30)
        # The sources are done by now: the server keeps serving, with keepalives (keepalive_s = 1).
        await s.until_idle()
        await s.until_idle()
        assert p.poll() is None
        assert not s.ended.is_set()
        # Resume after the third-last frame: exactly the last two come back, then the stream is idle.
        _, resumed = await open_stream(session, port, token, last=s.raw_ids()[-3])
        assert resumed is not None
        await resumed.wait_for(lambda s: len(s.raw_ids()) >= 2)
        await resumed.until_idle()
        await s.close()
        await resumed.close()
        return [f.data for f in s.frames], resumed.frames, len(s.comments)

    frames, resumed, _ = arun(client)
    assert [f["path"] for f in frames] == [e["path"] for e in expected]
    assert [f["id"] for f in frames] == [e["id"] for e in expected]
    assert [f.data["id"] for f in resumed] == [e["id"] for e in expected[-2:]]
    status, err = stop(p)
    assert status == 0, err


def produce(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for e in events:
        producer.produce(topic, encode_event(e))
    assert producer.flush(30) == 0


def serve_config(tmp_path: Path, bootstrap: str, topic: str, port: int, pem_file: Path,
                 name: str = "serve.toml") -> Path:
    config = tmp_path / name
    config.write_text(toml_table("[kafka]", {"bootstrap_servers": bootstrap})
                      + toml_table("[[source]]", {"type": "stdin", "format": "dcache-billing"})
                      + toml_table("[[route]]", {"name": "all", "topic": topic})
                      + sse_section(port, pem_file), "utf-8")
    return config


def test_fastev_serve_ids_survive_a_restart(broker: Any, new_topic: Any, procs: list[subprocess.Popen[str]],
                                            tmp_path: Path, pem_file: Path,
                                            signing_key: rsa.RSAPrivateKey) -> None:
    topic = new_topic()
    port = free_port()
    config = serve_config(tmp_path, broker.bootstrap, topic, port, pem_file)
    events = [{**event(f"/store/{'a' if i % 2 else 'b'}/f{i}", n=i), "id": f"{i + 1:032x}"} for i in range(12)]
    produce(broker.bootstrap, topic, events[:5])
    token = rs256(signing_key, claims(scope="storage.read:/store"))
    only_a = rs256(signing_key, claims(scope="storage.read:/store/a"))

    p = spawn(procs, [*serve_command(), "--config", str(config)])
    wait_serving(p)

    ids = serve_ids(config, topic)

    async def first(session: aiohttp.ClientSession) -> tuple[Stream, Stream]:
        _, s = await open_stream(session, port, token, ids, **{"from": "earliest"})
        _, a = await open_stream(session, port, only_a, ids, **{"from": "earliest"})
        assert s is not None and a is not None
        await s.until_id(4)
        await a.until_id(3)
        await s.close()
        await a.close()
        return s, a

    seen, seen_a = arun(first)
    assert seen.ids() == [0, 1, 2, 3, 4]  # the ids name Kafka offsets (opaque to the client)
    assert seen_a.ids() == [1, 3]
    status, err = stop(p)
    assert status == 0, err

    produce(broker.bootstrap, topic, events[5:])  # missed while no server ran
    p2 = spawn(procs, [*serve_command(), "--config", str(config)])
    wait_serving(p2)

    async def resume(session: aiohttp.ClientSession) -> tuple[list[Any], list[int]]:
        _, s = await open_stream(session, port, token, ids, last=seen.last_raw_id())
        _, a = await open_stream(session, port, only_a, ids, last=seen_a.last_raw_id())
        assert s is not None and a is not None
        await s.until_id(11)
        await a.until_id(11)
        produce(broker.bootstrap, topic, [end])  # offset 12, visible to both: everything before it arrived
        await s.until_id(12)
        await a.until_id(12)
        await s.close()
        await a.close()
        return [(f.id, f.data["path"]) for f in s.frames], a.ids()

    end = {**event("/store/a/end-marker", n=12), "id": f"{13:032x}"}
    frames, ids_a = arun(resume)
    assert frames == [(i, events[i]["path"]) for i in range(5, 12)] + [(12, end["path"])]
    assert ids_a == [5, 7, 9, 11, 12]
    status, err = stop(p2)
    assert status == 0, err


def produce_keyed(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    """Key = path: the events of one file stay in one partition (as fastev's avro routes do)."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for e in events:
        producer.produce(topic, encode_event(e), key=e["path"].encode())
    assert producer.flush(30) == 0


MARKER = "/store/a/end-marker"


def produce_markers(bootstrap: str, topic: str, partitions: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for p in range(partitions):
        producer.produce(topic, encode_event({**event(MARKER, n=1000 + p), "id": f"{1000 + p:032x}"}), partition=p)
    assert producer.flush(30) == 0


def test_fastev_serve_multi_partition_ids_resume_across_servers(
        broker: Any, new_topic: Any, procs: list[subprocess.Popen[str]], tmp_path: Path, pem_file: Path,
        signing_key: rsa.RSAPrivateKey) -> None:
    """Two servers on one 3-partition topic interleave partitions differently; an id from one resumes exactly
    on the other, and a client restricted to a subtree sees only its events (ids say nothing about others)."""
    topic = new_topic(partitions=3)
    port_a, port_b = free_port(), free_port()
    config = serve_config(tmp_path, broker.bootstrap, topic, port_a, pem_file)
    config_b = serve_config(tmp_path, broker.bootstrap, topic, port_b, pem_file, "serve-b.toml")  # same key file
    events = [{**event(f"/store/{'a' if i % 3 else 'b'}/f{i % 7}", n=i), "id": f"{i + 1:032x}"} for i in range(30)]
    produce_keyed(broker.bootstrap, topic, events[:15])
    token = rs256(signing_key, claims(scope="storage.read:/store"))
    only_a = rs256(signing_key, claims(scope="storage.read:/store/a"))
    pa = spawn(procs, [*serve_command(), "--config", str(config)])
    wait_serving(pa)  # creates the shared key file first
    pb = spawn(procs, [*serve_command(), "--config", str(config_b)])
    wait_serving(pb)

    async def on_a(session: aiohttp.ClientSession) -> tuple[list[str], str, list[str], str]:
        _, s = await open_stream(session, port_a, token, **{"from": "earliest"})
        _, a = await open_stream(session, port_a, only_a, **{"from": "earliest"})
        assert s is not None and a is not None
        await s.wait_for(lambda s: len(s.raw_ids()) >= 15)
        await a.wait_for(lambda s: len(s.raw_ids()) >= 10)
        await s.close()
        await a.close()
        return [f.data["id"] for f in s.frames], s.last_raw_id(), [f.data["id"] for f in a.frames], a.last_raw_id()

    seen, last, seen_a, last_a = arun(on_a)
    assert sorted(seen) == sorted(e["id"] for e in events[:15])
    assert sorted(seen_a) == sorted(e["id"] for e in events[:15] if e["path"].startswith("/store/a/"))
    produce_keyed(broker.bootstrap, topic, events[15:])  # both servers follow the topic live

    async def on_b(session: aiohttp.ClientSession) -> tuple[list[Any], list[Any]]:
        _, s = await open_stream(session, port_b, token, last=last)
        _, a = await open_stream(session, port_b, only_a, last=last_a)
        assert s is not None and a is not None
        await s.wait_for(lambda s: len(s.raw_ids()) >= 15)
        await a.wait_for(lambda s: len(s.raw_ids()) >= 10)
        # One end marker per partition, after everything else in it: once all three are in, so is the rest.
        produce_markers(broker.bootstrap, topic, 3)
        for stream in (s, a):
            await stream.wait_for(lambda s: sum(f.data["path"] == MARKER for f in s.frames) == 3)
        await s.close()
        await a.close()
        return [f for f in s.frames if f.data["path"] != MARKER], [f for f in a.frames if f.data["path"] != MARKER]

    frames, frames_a = arun(on_b)
    assert all(f.event != "EVENT_LOSS" for f in frames + frames_a)
    assert sorted(f.data["id"] for f in frames) == sorted(e["id"] for e in events[15:])
    assert sorted(f.data["id"] for f in frames_a) == sorted(e["id"] for e in events[15:]
                                                            if e["path"].startswith("/store/a/"))
    # Per file (one partition each), order is kept.
    for path in {e["path"] for e in events[15:]}:
        assert [f.data["id"] for f in frames if f.data["path"] == path] == \
            [e["id"] for e in events[15:] if e["path"] == path]
    for proc in (pa, pb):
        status, err = stop(proc)
        assert status == 0, err


def test_a_config_with_sse_only_needs_no_route_topic(tmp_path: Path, pem_file: Path) -> None:
    from fastev.errors import ConfigError
    from fastev.pipeline import load_config

    (tmp_path / "x.jsonl").write_text("")
    base = toml_table("[[source]]", {"type": "file", "format": "dcache-billing", "paths": ["x.jsonl"]})
    only = tmp_path / "only.toml"
    only.write_text(base + sse_section(0, pem_file), "utf-8")
    cfg = load_config(only)
    assert cfg.sse is not None and cfg.targets == () and not cfg.needs_kafka
    topicless = tmp_path / "topicless.toml"
    topicless.write_text(base + toml_table("[[route]]", {"name": "r"}) + sse_section(0, pem_file), "utf-8")
    assert load_config(topicless).targets == ()
    bad = tmp_path / "bad.toml"
    bad.write_text(base + toml_table("[[route]]", {"name": "r"}), "utf-8")
    with pytest.raises(ConfigError, match="topic"):
        load_config(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(base + "[sse]\nlisten = \"nope\"\n", "utf-8")
    with pytest.raises(ConfigError, match="sse"):
        load_config(wrong)


def test_fastev_run_sse_only_without_kafka(procs: list[subprocess.Popen[str]], samples: Path, tmp_path: Path,
                                           pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    shutil.copy(samples / FILES["dcache-billing"], tmp_path / "billing.jsonl")
    n = len(decode((tmp_path / "billing.jsonl").read_bytes(), "dcache-billing").events)
    port = free_port()
    config = tmp_path / "only.toml"
    config.write_text(toml_table("[[source]]", {"type": "file", "format": "dcache-billing",
                                                "paths": ["billing.jsonl"]}) + sse_section(port, pem_file))
    p = spawn(procs, [*run_command(), "--config", str(config), "--no-progress"])
    lines = wait_serving(p)
    assert not any("embedded broker" in line for line in lines)
    token = rs256(signing_key, claims(scope="storage.read:/"))

    async def client(session: aiohttp.ClientSession) -> list[str]:
        _, s = await open_stream(session, port, token, **{"from": "earliest"})
        assert s is not None
        await s.wait_for(lambda s: len(s.raw_ids()) >= n, timeout=30)
        await s.close()
        return [f.data["id"] for f in s.frames]

    expected_ids = [e.id for e in decode((tmp_path / "billing.jsonl").read_bytes(), "dcache-billing").events]
    assert arun(client) == expected_ids
    status, err = stop(p)
    assert status == 0, err
    assert os.path.isdir(tmp_path / "only.state")


def test_fastev_serve_refuses_a_topic_the_broker_does_not_have(broker: Any, procs: list[subprocess.Popen[str]],
                                                                tmp_path: Path, pem_file: Path) -> None:
    config = serve_config(tmp_path, broker.bootstrap, "no-such-topic-here", free_port(), pem_file)
    p = spawn(procs, [*serve_command(), "--config", str(config)])
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, err  # a configuration error: the route names a topic the cluster lacks
    assert err.startswith("fastev serve: error: topic 'no-such-topic-here'"), err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
