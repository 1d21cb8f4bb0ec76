"""``fastev bench sse``: a swarm of SSE clients on loopback against a server fed at a fixed event rate.

Per round (a number of clients), in one invocation:

- **fastev**: the real SSE server (``fastev.sse.make_app`` + ``EventHub``) in this process, ACL mode,
  static service tokens; 4 communities (``/data/c0`` .. ``/data/c3``), each client holds the token of
  one community and may see only that tree, so every event is delivered to a quarter of the clients
  and every subscriber's grant is checked for every event.
- **peer**: a plain aiohttp SSE server, same port/clients/rate/tokens, which keeps a path prefix per
  client and JSON-encodes the event (``orjson.dumps``) once per matching client per event.

The clients run in **one separate process** (``python -m fastev.bench.sse --client``): the server
then has a core of its own (the machine has 2), the server's RSS delta per connected client is not
polluted by client buffers, and the client's CPU use is reported separately so it is visible
which side saturates.

Latency ingest -> client receipt: an event's id (its position) is its scheduled publish time on the
system-wide monotonic clock in microseconds (strictly increasing), so a client computes
``now - id`` per frame without parsing JSON and without a side table; the scheduled (not the
actual) publish time is used, so a publisher falling behind its schedule counts as latency.
Events are published in 10 ms ticks.
"""
from __future__ import annotations

import array
import asyncio
import gc
import json
import os
import re
import resource
import socket
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ("run", "markdown", "write_report", "plot")

COMMUNITIES = 4
TICKS_PER_S = 100
CONNECT_CONCURRENCY = 256
_ID_RE = re.compile(rb"(?:^|\n)id: (\d+)\n")


def _now_us() -> int:
    return time.monotonic_ns() // 1000


def _raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _percentiles(us: Any) -> dict[str, float]:
    if not len(us):
        return {}
    v = sorted(us)

    def pick(q: float) -> float:
        return float(v[min(len(v) - 1, int(q * len(v)))]) / 1e3

    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "p999_ms": pick(0.999), "max_ms": float(v[-1]) / 1e3,
            "samples": len(v)}


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


def _fastev_server(tmp: Path, client_queue: int) -> tuple[Any, Any]:
    from ..acl import Acl
    from ..sse import AclAuthorizer, Authenticator, EventHub, make_app, token_hash

    acl_text = "".join(f'[[allow]]\nprincipals = ["group:/c{i}"]\npaths = ["/data/c{i}"]\n\n'
                       for i in range(COMMUNITIES))
    tokens_file = tmp / "service-tokens.txt"
    tokens_file.write_text("".join(f"{token_hash(t)} user:svc-c{i} group:/c{i}\n" for i, t in enumerate(_tokens())))
    hub = EventHub(replay=1000, client_queue=client_queue)
    authenticator = Authenticator.from_config({"mode": "acl", "tokens_file": str(tokens_file)})
    app = make_app(hub, authenticator, AclAuthorizer(Acl.from_text(acl_text)), keepalive_s=60)
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
            sys.executable, "-m", "fastev.bench.sse", "--client", json.dumps({"url": url, "clients": clients,
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
                 tmp: Path) -> dict[str, Any]:
    gc.collect()
    connected: Callable[[], int]
    drops: Callable[[], int]
    publish: Callable[[dict[str, Any], int], None]
    if impl == "fastev":
        hub, app = _fastev_server(tmp, client_queue)
        publish, close_all = hub.publish, hub.close_all

        def connected() -> int:
            return int(hub.clients)

        def drops() -> int:
            return int(hub.drops)
    else:
        peer = _PeerServer(client_queue)
        app = peer.app()
        publish, close_all = peer.publish, peer.close_all

        def connected() -> int:
            return peer.connected

        def drops() -> int:
            return peer.drops
    runner, port = await _serve(app)
    gc.collect()
    rss0 = _rss_bytes()
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
        rss1 = _rss_bytes()
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
        per_tick, carry = divmod(rate, TICKS_PER_S)
        mark0: dict[str, Any] = {}
        cpu0 = wall0 = 0.0
        published_window = 0
        tick = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                break  # what an overloaded server did not ingest by then is not offered any more
            if not mark0 and now >= warm_end:
                mark0 = await cp.command("mark", 30)
                cpu0, wall0, busy, published_window, expected = _cpu_s(), time.perf_counter(), 0.0, 0, 0
            due = start + tick / TICKS_PER_S
            if due > now:
                await asyncio.sleep(min(due - now, max(0.0, warm_end - now) or due - now))
                continue
            max_behind = max(max_behind, now - due) if mark0 else max_behind
            await asyncio.sleep(0)  # let the writers run at least once per tick
            k = per_tick + (1 if carry and tick % TICKS_PER_S < carry else 0)
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
            cpu0, wall0, busy, published_window, expected = _cpu_s(), time.perf_counter(), 0.0, 0, 0
        mark1 = await cp.command("mark", 60)
        wall = time.perf_counter() - wall0
        cpu = _cpu_s() - cpu0
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


def _bottleneck(rounds: list[dict[str, Any]]) -> str:
    """Name what limits each round, from the measured fractions (profiled causes in the text)."""
    notes = []
    for r in rounds:
        fe, peer = r.get("fastev") or {}, r.get("peer") or {}
        if "frames_per_s" not in fe:
            continue
        side = []
        need = fe["publish_ms_per_event"] * fe["offered_events_per_s"] / 1e3
        if need > 0.3:
            side.append(f"hub.publish fan-out: {fe['publish_ms_per_event']:.2f} ms/event over {fe['connected']:,} "
                        f"subscribers (Subscription.frame_for = Filters.matches + grant.allows for every subscriber "
                        f"on every event, ~1 us/subscriber at 10,000 though only {COMMUNITIES} distinct grants exist, "
                        f"then a queue put that wakes a waiter), i.e. {need:.0%} of a core at the "
                        f"offered rate: ingest limited to {fe['ingest_events_per_s']:.0f} events/s")
        if fe["server_cpu_fraction"] > 0.9:
            side.append(f"server core saturated ({fe['server_cpu_fraction']:.0%}); per delivered frame the pump pays "
                        "Subscription.next -> asyncio.wait_for(queue.get(), keepalive) (a new Task + timer per "
                        "frame; ~25-30% of server CPU in a cProfile at 1,000 clients, the peer's pump is a plain "
                        "queue.get()) and one chunked "
                        "StreamResponse.write (one send per frame, queued frames are not coalesced)")
        elif fe.get("p99_ms", 0) > 100:
            side.append(f"p99 {fe['p99_ms']:.0f} ms > 100 ms, server core {fe['server_cpu_fraction']:.0%} busy: "
                        "bursts of a tick's frames queue behind the per-frame pump cost (Subscription.next -> "
                        "asyncio.wait_for(queue.get(), keepalive): a new Task + timer per frame) and one "
                        "StreamResponse.write per frame")
        if fe["client_cpu_fraction"] > 0.9:
            side.append(f"client process saturated ({fe['client_cpu_fraction']:.0%} CPU): the swarm limits frames/s")
        if "frames_per_s" in peer:
            side.append(f"peer: {peer['frames_per_s']:,.0f} frames/s, p99 {peer.get('p99_ms', float('nan')):.0f} ms, "
                        f"server CPU {peer['server_cpu_fraction']:.0%}")
        if len(side) == (1 if "frames_per_s" in peer else 0):
            side.insert(0, "no saturation: offered load delivered")
        notes.append(f"{r['clients']:,} clients: " + "; ".join(side))
    return " | ".join(notes)


async def _run_async(clients: tuple[int, ...], rate: int, seconds: float, client_queue: int,
                     budget_s: float) -> dict[str, Any]:
    try:
        import uvloop  # noqa: F401
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    report: dict[str, Any] = {
        "benchmark": "sse", "host": socket.gethostname(), "cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loop": loop_name,
        "nofile": _raise_nofile(), "communities": COMMUNITIES, "offered_events_per_s": rate,
        "seconds": seconds, "client_queue": client_queue,
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
                    row[impl] = await asyncio.wait_for(_round(impl, n, rate, seconds, client_queue, Path(tmpdir)),
                                                       limit)
                except (TimeoutError, RuntimeError, OSError) as exc:
                    row[impl] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            report["rounds"].append(row)
    report["bottleneck"] = _bottleneck(report["rounds"])
    report["elapsed_s"] = time.perf_counter() - t_start
    return report


def run(clients: tuple[int, ...] | list[int] | int = (1000, 10000), rate: int = 80, seconds: float = 5.0,
        out_dir: Path | None = None, *, client_queue: int = 1000, budget_s: float = 110.0) -> dict[str, Any]:
    """Run the rounds (fastev then the peer for each client count) and optionally write the results.

    ``rate`` is events/s offered to the server; each event goes to ``clients / 4`` clients, so the
    offered delivery rate is ``rate * clients / 4`` frames/s (80 ev/s x 10,000 clients = 200,000).
    """
    counts = (clients,) if isinstance(clients, int) else tuple(clients)
    try:
        import uvloop
        report = uvloop.run(_run_async(counts, rate, seconds, client_queue, budget_s))
    except ImportError:
        report = asyncio.run(_run_async(counts, rate, seconds, client_queue, budget_s))
    if out_dir is not None:
        write_report(report, Path(out_dir))
    return report


# --------------------------------------------------------------------------- reporting


def _cell(r: dict[str, Any], fmt: str, *keys: str) -> str:
    if "error" in r or "skipped" in r:
        return str(r.get("error") or r.get("skipped", ""))
    try:
        return fmt.format(*(r[k] for k in keys))
    except KeyError:
        return "-"


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# fastev SSE benchmark ({report['host']}, {report['time']}, {report['cpus']} CPUs, {report['loop']})",
             "", report["setup"] + ".",
             f"Offered {report['offered_events_per_s']:,} events/s for {report['seconds']} s after a 1 s warm-up; "
             f"each event goes to a quarter of the clients. Latency = scheduled publish -> client receipt.", "",
             "| clients | server | connected | frames/s | delivered | p50 ms | p99 ms | max ms | "
             "server RSS / heap KB/client | publish ms/event | server CPU | client CPU |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in report["rounds"]:
        for impl in ("fastev", "peer"):
            r = row.get(impl, {})
            if "error" in r or "skipped" in r:
                lines.append(f"| {row['clients']:,} | {impl} | {_cell(r, '')} | | | | | | | | | |")
                continue
            lines.append(
                f"| {row['clients']:,} | {impl} | {_cell(r, '{:,}', 'connected')}"
                f" | {_cell(r, '{:,.0f}', 'frames_per_s')}"
                f" | {_cell(r, '{:.1%}', 'delivered_fraction')} | {_cell(r, '{:.1f}', 'p50_ms')}"
                f" | {_cell(r, '{:.1f}', 'p99_ms')} | {_cell(r, '{:.0f}', 'max_ms')}"
                f" | {_cell(r, '{:.1f} / {:.1f}', 'server_rss_per_client_kb', 'server_heap_per_client_kb')}"
                f" | {_cell(r, '{:.2f}', 'publish_ms_per_event')}"
                f" | {_cell(r, '{:.0%}', 'server_cpu_fraction')} | {_cell(r, '{:.0%}', 'client_cpu_fraction')} |")
    lines += ["", f"Bottleneck: {report['bottleneck']}", "",
              "Memory: RSS delta of the server process / clients connected (a later round reuses pages freed "
              "by an earlier one, so RSS understates it), and the Python heap growth (tracemalloc) while the "
              "clients connected (excludes C-level socket buffers).", "",
              "Acceptance target: 10,000 clients, >= 200,000 frames/s, p99 <= 100 ms."]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for impl, style in (("fastev", "o-"), ("peer", "s--")):
        rows = [(r["clients"], r[impl]) for r in report["rounds"] if "frames_per_s" in r.get(impl, {})]
        if not rows:
            continue
        xs = [c for c, _ in rows]
        a.plot(xs, [r["frames_per_s"] for _, r in rows], style, label=impl)
        b.plot(xs, [r.get("p99_ms", float("nan")) for _, r in rows], style, label=f"{impl} p99")
        b.plot(xs, [r.get("p50_ms", float("nan")) for _, r in rows], style, alpha=0.5, label=f"{impl} p50")
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_xlabel("concurrent SSE clients")
        ax.legend()
    a.set_ylabel("delivered frames/s (aggregate)")
    a.set_title(f"delivered frames/s at {report['offered_events_per_s']} events/s offered")
    b.set_ylabel("ingest -> client latency (ms)")
    b.set_yscale("log")
    b.set_title("latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    from .report import write_report as write

    write(report, out_dir, "sse", markdown, plot)


# --------------------------------------------------------------------------- the client swarm process


async def _client_main(cfg: dict[str, Any]) -> None:
    import aiohttp

    _raise_nofile()
    url, n, tokens = cfg["url"], int(cfg["clients"]), cfg["tokens"]
    state = {"frames": 0, "counting": False, "connected": 0, "failed": 0, "ended_early": 0}
    lat: array.array[int] = array.array("q")
    stopping = asyncio.Event()
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    ready = asyncio.Event()
    done_connecting = [0]
    rss0 = _rss_bytes()

    def settle() -> None:
        done_connecting[0] += 1
        if done_connecting[0] == n:
            ready.set()

    async def one(i: int, session: aiohttp.ClientSession) -> None:
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {tokens[i % len(tokens)]}"}
        resp = None
        up = False
        try:
            async with sem:
                resp = await asyncio.wait_for(session.get(url, headers=headers), 30)
                if resp.status != 200:
                    raise RuntimeError(resp.status)
                first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 30)
                if not first.startswith(b": connected"):
                    raise RuntimeError("no connected comment")
            state["connected"] += 1
            up = True
            settle()
            tail = b""
            append, find_ids = lat.append, _ID_RE.findall
            async for chunk in resp.content.iter_any():
                now = _now_us()
                buf = tail + chunk if tail else chunk
                cut = buf.rfind(b"\n\n")
                if cut < 0:
                    tail = buf
                    continue
                tail = buf[cut + 2:]
                ids = find_ids(buf, 0, cut + 2)
                if state["counting"]:
                    state["frames"] += len(ids)
                    for x in ids:
                        append(now - int(x))
            if not stopping.is_set():
                state["ended_early"] += 1
        except (aiohttp.ClientError, ConnectionError, TimeoutError, RuntimeError, OSError):
            if not up:
                state["failed"] += 1
                settle()
            elif not stopping.is_set():
                state["ended_early"] += 1
        except asyncio.CancelledError:
            pass
        finally:
            if resp is not None:
                resp.close()

    def emit(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        tasks = [asyncio.create_task(one(i, session)) for i in range(n)]
        try:
            await asyncio.wait_for(ready.wait(), max(60.0, n / 100))
        except TimeoutError:
            pass
        gc.collect()
        emit({"connected": state["connected"], "failed": state["failed"] + n - done_connecting[0],
              "rss_per_client_kb": (_rss_bytes() - rss0) / max(1, state["connected"]) / 1024})
        while True:
            line = await reader.readline()
            cmd = line.strip().decode()
            if cmd == "mark":
                if not state["counting"]:
                    state["counting"] = True
                    del lat[:]
                    emit({"frames": 0, "t": time.monotonic(), "cpu": _cpu_s()})
                else:
                    # window closes: keep counting frames already in flight into the latency stats only
                    emit({"frames": state["frames"], "t": time.monotonic(), "cpu": _cpu_s()})
            elif cmd == "stop" or not line:
                stopping.set()
                state["counting"] = False
                for t in tasks:
                    t.cancel()
                await asyncio.wait(tasks, timeout=30)
                emit({"latency": _percentiles(lat), "ended_early": state["ended_early"],
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
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        _client_entry(sys.argv[2])
    else:
        import argparse

        ap = argparse.ArgumentParser(description=__doc__)
        ap.add_argument("--clients", default="1000,10000")
        ap.add_argument("--rate", type=int, default=80)
        ap.add_argument("--seconds", type=float, default=5.0)
        ap.add_argument("--out", type=Path, default=None)
        a = ap.parse_args()
        rep = run(tuple(int(x) for x in a.clients.split(",")), a.rate, a.seconds, a.out)
        print(markdown(rep))
