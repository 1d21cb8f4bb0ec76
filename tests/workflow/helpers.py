"""Building blocks of the workflow tests: route messages as ``fastev run`` writes them, runner processes,
recording commands. Nothing here is a stand-in: the broker, the runner and the actions are the real ones."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from fastev.avro import confluent_frame, encode_event, ocf_bytes

REPO = Path(__file__).resolve().parents[2]


def eid(n: int) -> str:
    """The id of test event ``n`` (ids are 32 lowercase hex digits, docs/formats.md §1)."""
    return f"{n:032x}"


def event(n: int, path: str, *, kind: str = "UPLOAD", size: int | None = 100, user: str | None = "alice",
          groups: Sequence[str] = ("/atlas",), time_us: int | None = None) -> dict[str, Any]:
    """A complete StorageEvent dict (docs/formats.md §1) with a unique id."""
    return {
        "id": eid(n), "source": "DCACHE_BILLING", "kind": kind, "raw_type": "transfer",
        "time_us": time.time_ns() // 1000 if time_us is None else time_us, "path": path, "old_path": None,
        "is_dir": False, "size": size, "bytes": size, "duration_ms": 5, "status": 0, "status_msg": None,
        "file_id": None, "user": user, "uid": 1000, "gid": 1000, "groups": list(groups), "client": "127.0.0.1",
        "protocol": "https", "system": "dcache", "storage_class": None, "attrs": {},
    }


def route_message(ev: dict[str, Any], fmt: str = "avro") -> bytes:
    payload = encode_event(ev)
    if fmt == "confluent":
        return confluent_frame(7, payload)
    if fmt == "ocf":
        return ocf_bytes([payload])
    return payload


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[str | None, bytes]]) -> int:
    """(key, value) pairs, acknowledged before returning."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    n = 0
    for key, value in messages:
        p.produce(topic, value=value, key=key)
        n += 1
        p.poll(0)
    assert p.flush(30) == 0
    return n


def produce_events(bootstrap: str, topic: str, events: Iterable[dict[str, Any]], fmt: str = "avro") -> int:
    return produce(bootstrap, topic, ((e["path"], route_message(e, fmt)) for e in events))


RECORDER = r'''
import json, os, sys, time
log, mode = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
event = json.loads(sys.stdin.readline())
rec = {"id": os.environ["FASTEV_EVENT_ID"], "workflow": os.environ["FASTEV_WORKFLOW"],
       "attempt": int(os.environ["FASTEV_ATTEMPT"]), "path": event["path"], "args": args, "pid": os.getpid(),
       "t": time.time()}
fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, (json.dumps(rec) + "\n").encode())
os.close(fd)
if mode == "ok":
    print(json.dumps({"seen": event["path"], "adler32": "0abc1234"}))
elif mode == "tempfail-once":
    sys.exit(0 if rec["attempt"] > 1 else 75)
elif mode == "fail":
    print("broken input", file=sys.stderr); sys.exit(3)
elif mode == "hang":
    import subprocess
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(log + ".children", "a") as f:
        f.write(f"{child.pid}\n")
    time.sleep(600)
elif mode == "slow":
    time.sleep(float(os.environ.get("SLOW_S", "0.05")))
elif mode == "span":
    time.sleep(float(os.environ.get("SLOW_S", "0.05")))
    fd = os.open(log + ".spans", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (json.dumps({"id": rec["id"], "start": rec["t"], "end": time.time()}) + "\n").encode())
    os.close(fd)
'''


def recorder(tmp: Path) -> tuple[list[str], Path]:
    """(argv prefix, log file): the command appends one JSON line per invocation to the log."""
    script = tmp / "recorder.py"
    script.write_text(RECORDER)
    log = tmp / "calls.jsonl"
    return [sys.executable, str(script), str(log)], log


def calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def toml_list(items: Sequence[str]) -> str:
    return json.dumps(list(items))


def start_runner(config: Path, *, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``fastev workflow run`` as a real process (its own session, so a test can SIGKILL it cleanly)."""
    return subprocess.Popen(
        [sys.executable, "-m", "fastev", "workflow", "run", "--config", str(config), "--no-progress"],
        cwd=str(REPO), env={**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def stop_runner(proc: subprocess.Popen[str], timeout: float = 60.0) -> tuple[int, str]:
    """SIGTERM, wait; returns (exit status, stderr)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"runner did not stop within {timeout} s after SIGTERM:\n{err}") from None
    return proc.returncode, err


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition",
             proc: subprocess.Popen[str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"runner exited {proc.returncode} while waiting for {what}:\n{err}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def results(messages: Iterable[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(m.value()) for m in messages]


def headers(message: Any) -> dict[str, str]:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (message.headers() or [])}


def at_least(n: int, read: Callable[[], list[Any]]) -> Callable[[], list[Any] | None]:
    """A wait_for predicate: what ``read`` returns once it has at least ``n`` items."""

    def check() -> list[Any] | None:
        got = read()
        return got if len(got) >= n else None

    return check


def order_violations(ran: Sequence[dict[str, Any]], expected: dict[str, list[str]]) -> list[str]:
    """Per-path order: an event's action may start only once every earlier event of its path (in topic
    order, ``expected[path]``) has started at least once before it. Replays (an earlier event again
    after a crash) are allowed; skipping ahead is not."""
    bad = []
    reached: dict[str, int] = {}  # path -> index of the furthest event started so far
    for call in ran:
        ids = expected.get(call["path"])
        if ids is None or call["id"] not in ids:
            bad.append(f"unexpected call {call['id']} on {call['path']!r}")
            continue
        i = ids.index(call["id"])
        furthest = reached.get(call["path"], -1)
        if i > furthest + 1:
            bad.append(f"{call['path']!r}: {call['id']} (#{i}) started before #{furthest + 1}")
        reached[call["path"]] = max(furthest, i)
    return bad


class ThreadedReceiver:
    """A real aiohttp server on 127.0.0.1 in a thread of the test process, on a fixed port so that it can
    go down and come back; ``status`` decides the answer; every request is recorded."""

    def __init__(self, port: int | None = None) -> None:
        import asyncio
        import threading

        from fastev.kafka.broker import free_port

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.fail_once: set[str] = set()   # batch requests: these ids are reported failed the first time
        self.failed: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._runner: Any = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coro: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.read()
        event = orjson.loads(body)
        items = event if isinstance(event, list) else [event]
        failed = []
        for item in items:
            data = item.get("data", item)
            if isinstance(event, list) and data["id"] in self.fail_once and data["id"] not in self.failed:
                self.failed.append(data["id"])
                failed.append(data["id"])
                continue
            self.requests.append({"id": data["id"], "path": data["path"], "t": time.time(), "status": self.status,
                                  "ce_time": item.get("time")})
        if isinstance(event, list):
            return web.json_response({"failed": failed}, status=self.status)
        return web.Response(status=self.status)

    async def _start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def up(self) -> ThreadedReceiver:
        self._call(self._start())
        return self

    def down(self) -> None:
        self._call(self._stop())

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def delivered(self) -> list[dict[str, Any]]:
        """Requests answered 2xx (the receiver "has" these events)."""
        return [r for r in self.requests if 200 <= r["status"] < 300]
