"""The client swarm of ``fastev bench sse``: one process of many bare SSE clients (``python -m
fastev.bench.sse_swarm CONFIG``), driven over stdin, answering JSON lines on stdout; and the process
measurements both sides use (CPU, RSS, latency percentiles).
"""
from __future__ import annotations

import array
import asyncio
import gc
import json
import os
import re
import resource
import sys
import time
from typing import Any

__all__ = ("now_us", "raise_nofile", "rss_bytes", "cpu_s", "percentiles")

CONNECT_CONCURRENCY = 256
_T_RE = re.compile(rb'"t_us":(\d+)')  # the scheduled publish time each bench event carries in attrs


def now_us() -> int:
    return time.monotonic_ns() // 1000


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def percentiles(us: Any) -> dict[str, float]:
    if not len(us):
        return {}
    v = sorted(us)

    def pick(q: float) -> float:
        return float(v[min(len(v) - 1, int(q * len(v)))]) / 1e3

    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "p999_ms": pick(0.999), "max_ms": float(v[-1]) / 1e3,
            "samples": len(v)}



def _split_url(url: str) -> tuple[str, int, str]:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return u.hostname or "127.0.0.1", u.port or 80, u.path or "/"


class _SwarmClient(asyncio.Protocol):
    """One SSE client as a bare protocol: checks the 200 and the connected comment, then counts frames
    (one regex over each read) and records now - t_us per frame while counting."""

    def __init__(self, request: bytes, state: dict[str, Any], lat: array.array[int], stopping: asyncio.Event,
                 sample: bool) -> None:
        self.request, self.state, self.lat, self.stopping = request, state, lat, stopping
        self.sample = sample
        loop = asyncio.get_running_loop()
        self.up: asyncio.Future[bool] = loop.create_future()
        self.gone: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.up.done():
            self.head += data
            if b": connected" not in self.head:
                return
            if not self.head.startswith(b"HTTP/1.1 200"):
                self.up.set_exception(RuntimeError(self.head[:40]))
                return
            self.up.set_result(True)
            data, self.head = self.head[self.head.index(b": connected") + 13:], b""
        now = now_us()
        buf = self.tail + data if self.tail else data
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self.tail = buf
            return
        self.tail = buf[cut + 2:]
        if self.state["counting"]:
            if self.sample:
                stamps = _T_RE.findall(buf, 0, cut + 2)
                self.state["frames"] += len(stamps)
                append = self.lat.append
                for x in stamps:
                    append(now - int(x))
            else:
                self.state["frames"] += buf.count(b"\nevent: ", 0, cut + 2)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.up.done():
            self.up.set_exception(ConnectionError("closed before the stream started"))
        elif not self.stopping.is_set():
            self.state["ended_early"] += 1
        if not self.gone.done():
            self.gone.set_result(None)


async def _client_main(cfg: dict[str, Any]) -> None:
    raise_nofile()
    url, n, tokens = cfg["url"], int(cfg["clients"]), cfg["tokens"]
    state = {"frames": 0, "counting": False, "connected": 0, "failed": 0, "ended_early": 0}
    lat: array.array[int] = array.array("q")
    stopping = asyncio.Event()
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    ready = asyncio.Event()
    done_connecting = [0]
    rss0 = rss_bytes()

    def settle() -> None:
        done_connecting[0] += 1
        if done_connecting[0] == n:
            ready.set()

    host, port, path = _split_url(url)
    loop = asyncio.get_running_loop()

    async def one(i: int) -> None:
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
                   f"Authorization: Bearer {tokens[i % len(tokens)]}\r\n\r\n").encode()
        # Latency from a quarter of the clients (every community), frame counts from all: the regex per read
        # is what the swarm would otherwise spend its core on.
        proto = _SwarmClient(request, state, lat, stopping, sample=(i // len(tokens)) % 4 == 0)
        up = False
        try:
            async with sem:
                await asyncio.wait_for(loop.create_connection(lambda: proto, host, port), 30)
                await asyncio.wait_for(proto.up, 30)
            up = True
            state["connected"] += 1
            settle()
            await proto.gone
        except (ConnectionError, TimeoutError, RuntimeError, OSError):
            if not up:
                state["failed"] += 1
                settle()
        except asyncio.CancelledError:
            pass
        finally:
            if proto.transport is not None:
                proto.transport.close()

    def emit(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    try:
        await asyncio.wait_for(ready.wait(), max(60.0, n / 100))
    except TimeoutError:
        pass
    gc.collect()
    emit({"connected": state["connected"], "failed": state["failed"] + n - done_connecting[0],
          "rss_per_client_kb": (rss_bytes() - rss0) / max(1, state["connected"]) / 1024})
    while True:
        line = await reader.readline()
        cmd = line.strip().decode()
        if cmd == "mark":
            if not state["counting"]:
                state["counting"] = True
                del lat[:]
                emit({"frames": 0, "t": time.monotonic(), "cpu": cpu_s()})
            else:
                # window closes: keep counting frames already in flight into the latency stats only
                emit({"frames": state["frames"], "t": time.monotonic(), "cpu": cpu_s()})
        elif cmd == "stop" or not line:
            stopping.set()
            state["counting"] = False
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks, timeout=30)
            emit({"latency": percentiles(lat), "ended_early": state["ended_early"],
                  "frames_total": state["frames"]})
            break


def _client_entry(arg: str) -> None:
    cfg = json.loads(arg)
    try:
        import uvloop
        uvloop.run(_client_main(cfg))
    except ImportError:
        asyncio.run(_client_main(cfg))



if __name__ == "__main__":
    _client_entry(sys.argv[1])
