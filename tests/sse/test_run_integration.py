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

from ..kafka.conftest import FILES, broker, new_topic  # noqa: F401 - fixtures
from ..pipeline.conftest import ENV, run_command, toml_table
from .helpers import AUDIENCE, ISSUER, Stream, claims, event, rs256

SSE = """
[sse]
listen = "127.0.0.1:{port}"
replay = 1000
keepalive_s = 1

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


async def open_stream(session: aiohttp.ClientSession, port: int, token: str | None,
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
    s = Stream(resp)
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

    async def client(session: aiohttp.ClientSession) -> tuple[list[Any], list[int], int]:
        status, _ = await open_stream(session, port, None)
        assert status == 401
        _, s = await open_stream(session, port, token, **{"from": "earliest"})
        assert s is not None
        await s.wait_for(lambda s: len(s.ids()) >= len(expected), timeout=30)
        await asyncio.sleep(1.5)  # the sources are done by now: the server keeps serving (keepalives)
        assert p.poll() is None
        assert not s.ended.is_set()
        _, resumed = await open_stream(session, port, token, last=str(len(expected) - 2))
        assert resumed is not None
        await resumed.wait_for(lambda s: len(s.ids()) >= 2)
        await s.close()
        await resumed.close()
        return [f.data for f in s.frames], resumed.ids(), len(s.comments)

    frames, resumed_ids, _ = arun(client)
    assert [f["path"] for f in frames] == [e["path"] for e in expected]
    assert [f["id"] for f in frames] == [e["id"] for e in expected]
    assert resumed_ids == [len(expected) - 1, len(expected)]
    status, err = stop(p)
    assert status == 0, err


def produce(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for e in events:
        producer.produce(topic, encode_event(e))
    assert producer.flush(30) == 0


def serve_config(tmp_path: Path, bootstrap: str, topic: str, port: int, pem_file: Path) -> Path:
    config = tmp_path / "serve.toml"
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

    async def first(session: aiohttp.ClientSession) -> tuple[list[int], list[int]]:
        _, s = await open_stream(session, port, token, **{"from": "earliest"})
        _, a = await open_stream(session, port, only_a, **{"from": "earliest"})
        assert s is not None and a is not None
        await s.until_id(5)
        await a.until_id(4)
        await s.close()
        await a.close()
        return s.ids(), a.ids()

    seen, seen_a = arun(first)
    assert seen == [1, 2, 3, 4, 5]  # id = offset + 1
    assert seen_a == [2, 4]
    status, err = stop(p)
    assert status == 0, err

    produce(broker.bootstrap, topic, events[5:])  # missed while no server ran
    p2 = spawn(procs, [*serve_command(), "--config", str(config)])
    wait_serving(p2)

    async def resume(session: aiohttp.ClientSession) -> tuple[list[Any], list[int]]:
        _, s = await open_stream(session, port, token, last=str(seen[-1]))
        _, a = await open_stream(session, port, only_a, last=str(seen_a[-1]))
        assert s is not None and a is not None
        await s.until_id(12)
        await a.until_id(12)
        await asyncio.sleep(0.3)  # nothing more arrives
        await s.close()
        await a.close()
        return [(f.id, f.data["path"]) for f in s.frames], a.ids()

    frames, ids_a = arun(resume)
    assert frames == [(i + 1, events[i]["path"]) for i in range(5, 12)]
    assert ids_a == [6, 8, 10, 12]
    status, err = stop(p2)
    assert status == 0, err


def test_fastev_serve_refuses_a_multi_partition_topic(broker: Any, new_topic: Any, tmp_path: Path,
                                                     pem_file: Path) -> None:
    topic = new_topic(partitions=2)
    config = serve_config(tmp_path, broker.bootstrap, topic, free_port(), pem_file)
    done = subprocess.run([*serve_command(), "--config", str(config)], env=ENV, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert "2 partitions" in done.stderr and "single-partition" in done.stderr


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

    async def client(session: aiohttp.ClientSession) -> list[int]:
        _, s = await open_stream(session, port, token, **{"from": "earliest"})
        assert s is not None
        await s.until_id(n, timeout=30)
        await s.close()
        return s.ids()

    assert arun(client) == list(range(1, n + 1))
    status, err = stop(p)
    assert status == 0, err
    assert os.path.isdir(tmp_path / "only.state")
