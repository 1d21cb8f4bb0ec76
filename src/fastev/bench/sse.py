"""``fastev bench sse``: a swarm of SSE clients on loopback against a server fed at a fixed event rate.

Per round (a number of clients), in one invocation:

- **fastev**: the real SSE server (``fastev.sse.make_app`` + ``EventHub``) in this process, ACL mode,
  static service tokens; 4 communities (``/data/c0`` .. ``/data/c3``), each client holds the token of
  one community and may see only that tree, so every event is delivered to a quarter of the clients
  and every subscriber's grant is checked for every event.
- **peer**: a plain aiohttp SSE server, same port/clients/rate/tokens, which keeps a path prefix per
  client and JSON-encodes the event (``orjson.dumps``) once per matching client per event.

The clients run in **one separate process** (``python -m fastev.bench.sse_swarm``): the server
then has a core of its own (the machine has 2), the server's RSS delta per connected client is not
polluted by client buffers, and the client's CPU use is reported separately so it is visible
which side saturates.

Latency ingest -> client receipt: each event carries its scheduled publish time on the system-wide
monotonic clock in microseconds (``attrs.t_us``; fastev's frame ids are opaque), so a client
computes ``now - t_us`` per frame with one regex and no JSON parsing (a quarter of the clients,
spread over the communities, sample latency; all count frames); the scheduled (not the actual)
publish time is used, so a publisher falling behind its schedule counts as latency.
Events are published in 10 ms ticks. The clients are plain asyncio protocols (HTTP/1.1 request
written by hand, frames counted in the raw bytes), so the swarm costs little per frame and the
server is what is measured.
"""
from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .sse_report import markdown, plot, write_report
from .sse_swarm import cpu_s, raise_nofile, rss_bytes

__all__ = ("run", "markdown", "write_report", "plot")

COMMUNITIES = 4
TICKS_PER_S = 100


def _tokens() -> list[str]:
    return [f"bench-sse-service-token-c{i}" for i in range(COMMUNITIES)]


def _event(n: int, id_us: int) -> dict[str, Any]:
    from ..event import FIELDS

    e: dict[str, Any] = {f: None for f in FIELDS}
    e.update(id=f"ev-{n}", source="DCACHE_BILLING", kind="UPLOAD", raw_type="transfer", time_us=id_us,
             path=f"/data/c{n % COMMUNITIES}/run{n % 97}/file-{n:09d}.root", is_dir=False, status=0,
             groups=[], size=1_048_576 + n, attrs={"t_us": id_us})
    return e


# --------------------------------------------------------------------------- servers


class _PeerServer:
    """The plain alternative: per-client prefix filter, orjson.dumps per client per event."""

    def __init__(self, client_queue: int) -> None:
        self.client_queue = client_queue
        self.prefix = {tok: f"/data/c{i}/" for i, tok in enumerate(_tokens())}
        self.clients: set[tuple[str, asyncio.Queue[bytes | None]]] = set()
        self.drops = 0

    def app(self) -> Any:
        from aiohttp import web

        async def events(request: web.Request) -> web.StreamResponse:
            header = request.headers.get("Authorization", "")
            prefix = self.prefix.get(header[7:] if header.startswith("Bearer ") else "")
            if prefix is None:
                return web.json_response({"error": "unauthorized"}, status=401)
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            q: asyncio.Queue[bytes | None] = asyncio.Queue(self.client_queue)
            entry = (prefix, q)
            self.clients.add(entry)
            try:
                await resp.prepare(request)
                await resp.write(b": connected\n\n")
                while True:
                    frame = await q.get()
                    if frame is None:
                        break
                    await resp.write(frame)
            except ConnectionError:
                pass
            finally:
                self.clients.discard(entry)
            return resp

        app = web.Application()
        app.router.add_get("/events", events)
        return app

    def publish(self, event: dict[str, Any], event_id: int) -> None:
        import orjson

        path = event["path"]
        head = b"id: %d\nevent: %s\ndata: " % (event_id, event["kind"].encode())
        for entry in tuple(self.clients):
            prefix, q = entry
            if path.startswith(prefix):
                try:
                    q.put_nowait(head + orjson.dumps(event) + b"\n\n")
                except asyncio.QueueFull:
                    self.clients.discard(entry)
                    self.drops += 1
                    while not q.empty():
                        q.get_nowait()
                    q.put_nowait(None)

    def close_all(self) -> None:
        for _, q in tuple(self.clients):
            while not q.empty():
                q.get_nowait()
            q.put_nowait(None)
        self.clients.clear()

    @property
    def connected(self) -> int:
        return len(self.clients)


def _fastev_server(tmp: Path, client_queue: int, coalesce_ms: float) -> tuple[Any, Any]:
    from ..acl import Acl
    from ..sse import AclAuthorizer, Authenticator, EventHub, make_app, token_hash

    acl_text = "".join(f'[[allow]]\nprincipals = ["group:/c{i}"]\npaths = ["/data/c{i}"]\n\n'
                       for i in range(COMMUNITIES))
    tokens_file = tmp / "service-tokens.txt"
    tokens_file.write_text("".join(f"{token_hash(t)} user:svc-c{i} group:/c{i}\n" for i, t in enumerate(_tokens())))
    hub = EventHub(replay=1000, client_queue=client_queue, coalesce_s=coalesce_ms / 1e3)
    authenticator = Authenticator.from_config({"mode": "acl", "tokens_file": str(tokens_file)})
    # The swarm shares COMMUNITIES tokens over thousands of connections: lift the per-identity stream cap.
    app = make_app(hub, authenticator, AclAuthorizer(Acl.from_text(acl_text)), keepalive_s=60,
                   max_connections_per_identity=1 << 30)
    return hub, app


async def _serve(app: Any) -> tuple[Any, int]:
    """Like fastev.sse.server.start, with a listen backlog that survives a connection storm."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    return runner, int(runner.addresses[0][1])


# --------------------------------------------------------------------------- one round


class _ClientProc:
    """The client swarm process, driven by stdin commands, answering JSON lines on stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def spawn(cls, url: str, clients: int) -> _ClientProc:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fastev.bench.sse_swarm", json.dumps({"url": url, "clients": clients,
                                                                              "tokens": _tokens()}),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env, limit=2**24)
        return cls(proc)

    async def read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError("client process ended unexpectedly")
        return json.loads(line)  # type: ignore[no-any-return]

    async def command(self, cmd: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd.encode() + b"\n")
        await asyncio.wait_for(self.proc.stdin.drain(), timeout)
        return await self.read(timeout)

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            pass


async def _round(impl: str, clients: int, rate: int, seconds: float, client_queue: int,
                 tmp: Path, coalesce_ms: float) -> dict[str, Any]:
    gc.collect()
    connected: Callable[[], int]
    drops: Callable[[], int]
    publish: Callable[[dict[str, Any], int], None]
    if impl == "fastev":
        hub, app = _fastev_server(tmp, client_queue, coalesce_ms)
        publish, close_all = hub.publish, hub.close_all

        def connected() -> int:
            return int(hub.clients)

        def drops() -> int:
            return int(hub.drops)

        def writes() -> int:
            return int(hub.writes)
    else:
        peer = _PeerServer(client_queue)
        app = peer.app()
        publish, close_all = peer.publish, peer.close_all

        def connected() -> int:
            return peer.connected

        def drops() -> int:
            return peer.drops

        def writes() -> int:
            return 0  # the peer writes once per frame through aiohttp; not counted
    runner, port = await _serve(app)
    gc.collect()
    rss0 = rss_bytes()
    # RSS of a process that already ran a round reuses freed pages; the Python heap delta does not.
    tracemalloc.start()
    res: dict[str, Any] = {"impl": impl, "clients_requested": clients, "offered_events_per_s": rate}
    cp = await _ClientProc.spawn(f"http://127.0.0.1:{port}/events", clients)
    try:
        t0 = time.perf_counter()
        hello = await cp.read(max(60.0, clients / 100))
        res["connect_s"] = time.perf_counter() - t0
        res["connected_client_side"] = hello["connected"]
        res["connect_failures"] = hello["failed"]
        await asyncio.sleep(0.3)
        res["connected"] = connected()
        gc.collect()
        heap = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        res["server_heap_per_client_kb"] = heap / max(1, res["connected"]) / 1024
        rss1 = rss_bytes()
        res["server_rss_mb"] = rss1 / 2**20
        res["server_rss_per_client_kb"] = (rss1 - rss0) / max(1, res["connected"]) / 1024
        res["client_proc_rss_per_client_kb"] = hello["rss_per_client_kb"]

        # publish: warm-up 1 s, then the measured window between two marks, then a drain
        n = 0
        last_id = 0
        busy = 0.0
        max_behind = 0.0
        expected = 0
        per_event = res["connected"] / COMMUNITIES
        start = time.monotonic() + 0.05
        warm_end = start + 1.0  # warm-up by wall time: an overloaded server does not stretch it
        deadline = warm_end + seconds
        mark0: dict[str, Any] = {}
        writes0 = 0
        cpu0 = wall0 = 0.0
        published_window = 0
        tick = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                break  # what an overloaded server did not ingest by then is not offered any more
            if not mark0 and now >= warm_end:
                mark0 = await cp.command("mark", 30)
                cpu0, wall0, busy, published_window, expected = cpu_s(), time.perf_counter(), 0.0, 0, 0
                writes0 = writes()
            due = start + tick / TICKS_PER_S
            if due > now:
                await asyncio.sleep(min(due - now, max(0.0, warm_end - now) or due - now))
                continue
            max_behind = max(max_behind, now - due) if mark0 else max_behind
            await asyncio.sleep(0)  # let the writers run at least once per tick
            k = (tick + 1) * rate // TICKS_PER_S - tick * rate // TICKS_PER_S  # spread evenly over the ticks
            due_us = int(due * 1e6)
            tb = time.perf_counter()
            for _ in range(k):
                last_id = max(last_id + 1, due_us)
                publish(_event(n, last_id), last_id)
                n += 1
            busy += time.perf_counter() - tb
            published_window += k
            expected += k * per_event
            tick += 1
        if not mark0:  # the warm-up never ended on time: open an (empty) window now
            mark0 = await cp.command("mark", 30)
            cpu0, wall0, busy, published_window, expected = cpu_s(), time.perf_counter(), 0.0, 0, 0
            writes0 = writes()
        mark1 = await cp.command("mark", 60)
        wall = time.perf_counter() - wall0
        cpu = cpu_s() - cpu0
        window_writes = writes() - writes0
        await asyncio.sleep(1.0)  # frames still queued are delivered (and counted by the final report)
        final = await cp.command("stop", max(60.0, clients / 200))
        dt = mark1["t"] - mark0["t"]
        frames = mark1["frames"] - mark0["frames"]
        res.update({
            "window_s": dt, "events_published": published_window,
            "events_offered": int(rate * seconds), "ingest_events_per_s": published_window / wall if wall > 0 else 0.0,
            "frames_expected": int(expected),
            "frames_received": frames, "frames_per_s": frames / dt if dt > 0 else 0.0,
            "delivered_fraction": frames / expected if expected else 0.0,
            "delivered_fraction_after_drain": final["frames_total"] / expected if expected else 0.0,
            "publisher_max_behind_ms": max_behind * 1e3,
            "publish_ms_per_event": busy / max(1, published_window) * 1e3,
            "publish_busy_fraction": busy / wall if wall > 0 else 0.0,
            "server_cpu_fraction": cpu / wall if wall > 0 else 0.0,
            "client_cpu_fraction": (mark1["cpu"] - mark0["cpu"]) / dt if dt > 0 else 0.0,
            "overflow_drops": drops(), "client_disconnects": final["ended_early"],
            "socket_writes_per_s": window_writes / wall if wall > 0 and window_writes else None,
            "server_cpu_us_per_write": cpu / window_writes * 1e6 if window_writes else None,
            **final["latency"],
        })
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        await cp.close()
        close_all()
        try:
            await asyncio.wait_for(runner.cleanup(), 30)
        except TimeoutError:
            res["cleanup"] = "timed out"
    return res


def _bottleneck(rounds: list[dict[str, Any]], coalesce_ms: float) -> str:
    """Name what limits each round, from the measured fractions (profiled causes in the text)."""
    notes = []
    for r in rounds:
        fe, peer = r.get("fastev") or {}, r.get("peer") or {}
        if "frames_per_s" not in fe:
            continue
        side = []
        if fe.get("server_cpu_us_per_write"):
            cost = (f"{fe['socket_writes_per_s']:,.0f} socket writes/s = {fe['server_cpu_us_per_write']:.1f} us of "
                    f"server CPU per write (one write per client per flush, each a send(2))")
            if fe["server_cpu_fraction"] > 0.8:
                side.append(f"server core {fe['server_cpu_fraction']:.0%} busy for {cost}; a py-spy profile of this "
                            f"round puts ~87% of the server's CPU inside write(2): loopback TCP send, which also does "
                            f"the receiver's side, is the limit, not the hub (publish "
                            f"{fe['publish_ms_per_event']:.2f} ms/event for {fe['connected']:,} clients in "
                            f"{COMMUNITIES} grant groups)")
            else:
                side.append(f"no saturation: server core {fe['server_cpu_fraction']:.0%} busy for {cost}")
        if fe.get("p99_ms", 0) > 100:
            side.append(f"p99 {fe['p99_ms']:.0f} ms > 100 ms: each flush writes to every client that has frames "
                        f"({coalesce_ms:g} ms coalescing, then writes/flush x us/write), and 20 frames/s "
                        f"per client leave almost nothing to coalesce within 100 ms")
        if fe["client_cpu_fraction"] > 0.9:
            side.append(f"client process saturated ({fe['client_cpu_fraction']:.0%} CPU): the swarm limits frames/s")
        if "frames_per_s" in peer:
            side.append(f"peer: {peer['frames_per_s']:,.0f} frames/s, p99 {peer.get('p99_ms', float('nan')):.0f} ms, "
                        f"server CPU {peer['server_cpu_fraction']:.0%}")
        if not side or len(side) == (1 if "frames_per_s" in peer else 0):
            side.insert(0, "no saturation: offered load delivered")
        notes.append(f"{r['clients']:,} clients: " + "; ".join(side))
    return " | ".join(notes)


async def _run_async(clients: tuple[int, ...], rate: int, seconds: float, client_queue: int,
                     budget_s: float, coalesce_ms: float) -> dict[str, Any]:
    try:
        import uvloop  # noqa: F401
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    report: dict[str, Any] = {
        "benchmark": "sse", "host": socket.gethostname(), "cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loop": loop_name,
        "nofile": raise_nofile(), "communities": COMMUNITIES, "offered_events_per_s": rate,
        "seconds": seconds, "client_queue": client_queue, "coalesce_ms": coalesce_ms,
        "setup": "server in the bench process (1 core), clients in one separate process (the other core), "
                 "loopback; ACL mode, static service tokens, each client sees one of 4 community trees",
        "rounds": [],
    }
    from .. import __version__
    report["fastev_version"] = __version__
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmpdir:
        for n in clients:
            row: dict[str, Any] = {"clients": n}
            for impl in ("fastev", "peer"):
                if time.perf_counter() - t_start > budget_s:
                    row[impl] = {"skipped": f"time budget of {budget_s:.0f} s used up"}
                    continue
                # each round is bounded: connect + warm-up + window + drain + teardown
                limit = 60 + n / 50 + seconds * 3
                try:
                    row[impl] = await asyncio.wait_for(_round(impl, n, rate, seconds, client_queue, Path(tmpdir),
                                                              coalesce_ms),
                                                       limit)
                except (TimeoutError, RuntimeError, OSError) as exc:
                    row[impl] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            report["rounds"].append(row)
    report["bottleneck"] = _bottleneck(report["rounds"], coalesce_ms)
    report["elapsed_s"] = time.perf_counter() - t_start
    return report


def run(clients: tuple[int, ...] | list[int] | int = (1000, 10000), rate: int = 80, seconds: float = 5.0,
        out_dir: Path | None = None, *, client_queue: int = 1000, budget_s: float = 110.0,
        coalesce_ms: float | None = None) -> dict[str, Any]:
    """Run the rounds (fastev then the peer for each client count) and optionally write the results.

    ``rate`` is events/s offered to the server; each event goes to ``clients / 4`` clients, so the
    offered delivery rate is ``rate * clients / 4`` frames/s (80 ev/s x 10,000 clients = 200,000).
    """
    counts = (clients,) if isinstance(clients, int) else tuple(clients)
    if coalesce_ms is None:
        from ..sse.config import SseConfig

        coalesce_ms = SseConfig().coalesce_ms  # what a server runs with unless configured otherwise
    try:
        import uvloop
        report = uvloop.run(_run_async(counts, rate, seconds, client_queue, budget_s, coalesce_ms))
    except ImportError:
        report = asyncio.run(_run_async(counts, rate, seconds, client_queue, budget_s, coalesce_ms))
    if out_dir is not None:
        write_report(report, Path(out_dir))
    return report


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", default="1000,10000")
    ap.add_argument("--rate", type=int, default=80)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    rep = run(tuple(int(x) for x in a.clients.split(",")), a.rate, a.seconds, a.out)
    print(markdown(rep))
