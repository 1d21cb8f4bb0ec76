"""``fastev bench codec``: decode+validate+route+Avro-encode on one core, fastev vs the plain peers.

Every number in one report comes from one run on one machine: fastev (the
implementation the facade picked, plus the reference), and the peers
json/orjson/msgspec -> dict -> fastavro, all on the same generated records.
"""
from __future__ import annotations

import gc
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from .. import __version__
from ..acl import Acl, Identity
from ..decoding import IMPLEMENTATION
from ..routes import RouteSpec
from ..transcode import Transcoder
from .peers import make_peer
from .records import DECODER_FOR, INOTIFY_WATCHES, generate, stream

CHUNK = 1 << 20
KINDS_MEASURED = ("dcache-billing", "dcache-request", "gpfs-audit", "gpfs-watch", "s3", "dcache-inotify")
PEERS = ("json", "orjson", "msgspec")
BENCH_ACL = """
[[allow]]
principals = ["group:/atlas"]
paths = ["/pnfs/example.org/data/atlas", "/gpfs/scratch/atlas", "/atlas"]
[[deny]]
principals = ["group:/atlas"]
paths = ["/pnfs/example.org/data/atlas/d13"]
"""


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    """Best wall time of ``repeats`` runs (GC off while timing, as pytest-benchmark does)."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        gc.enable()
        best = min(best, dt)
    return best


def _transcoder(decoder: str) -> Transcoder:
    acl = Acl.from_text(BENCH_ACL)
    routes = [RouteSpec("all"), RouteSpec("atlas", principals=("group:/atlas",))]
    return Transcoder(decoder, routes, acl, inotify_watches=INOTIFY_WATCHES, now_us=0)


def measure_source(kind: str, n: int, repeats: int) -> dict[str, Any]:
    decoder = DECODER_FOR.get(kind, kind)
    data = stream(kind, n)
    records = generate(kind, n)
    row: dict[str, Any] = {"source": kind, "records": n, "bytes": len(data),
                           "mean_record_bytes": round(len(data) / n, 1)}

    chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]

    def run_fastev() -> None:
        # fed in 1 MiB chunks, as `fastev decode` and the pipeline feed it; each batch is released
        tc = _transcoder(decoder)
        for chunk in chunks:
            tc.feed(chunk)
        tc.finish()

    # sanity: every record decodes, else the timing would flatter us
    tc = _transcoder(decoder)
    first, last = tc.feed(data), tc.finish()
    decoded = first.stats.decoded + last.stats.decoded
    if decoded != n or first.errors:
        raise RuntimeError(f"{kind}: {decoded}/{n} decoded, errors {first.errors[:3]}")
    t = best_of(run_fastev, repeats)
    row["fastev"] = {"implementation": IMPLEMENTATION, "seconds": t, "records_per_s": n / t,
                     "mb_per_s": len(data) / t / 1e6}
    if decoder != "dcache-inotify":
        for peer in PEERS:
            encode = make_peer(decoder, peer)
            tp = best_of(partial(encode, records), max(1, repeats // 2))
            row[peer] = {"seconds": tp, "records_per_s": n / tp, "mb_per_s": len(data) / tp / 1e6,
                         "fastev_speedup": tp / t}
    return row


def measure_cli(n: int, repeats: int = 2) -> dict[str, Any]:
    """``fastev decode --output avro`` vs the plain peer script, end to end, on dCache transfer+request.

    Both are whole processes (start-up included) on the same file, best of ``repeats`` each;
    the peer builds the same events (tests/test_bench_peers.py holds it to that)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "billing.jsonl"
        with open(path, "wb") as f:
            for part in range(0, n, 100_000):  # bounded memory while generating
                k = min(100_000, n - part)
                f.write(stream("dcache-billing", k // 2, seed=10 + part))
                f.write(stream("dcache-request", k - k // 2, seed=20 + part))
        size = path.stat().st_size
        cmds = {
            "fastev": [sys.executable, "-m", "fastev", "decode", "--source", "dcache-billing",
                       "--output", "avro", str(path)],
            "json+fastavro": [sys.executable, "-m", "fastev.bench.peer_cli", str(path)],
        }
        out: dict[str, Any] = {"records": n, "bytes": size, "repeats": repeats}
        for name, cmd in cmds.items():
            best = float("inf")
            for _ in range(repeats):
                with open(path, "rb") as f:  # same page-cache state for both
                    while f.read(1 << 24):
                        pass
                t0 = time.perf_counter()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                best = min(best, time.perf_counter() - t0)
            out[name] = {"seconds": best, "records_per_s": n / best, "mb_per_s": size / best / 1e6}
        out["speedup"] = out["json+fastavro"]["seconds"] / out["fastev"]["seconds"]
    return out


def measure_acl(n_rules: int, lookups: int) -> dict[str, Any]:
    """ACL lookups with many rules: per-identity view (what routes and SSE readers use) and the full trie."""
    import random

    rng = random.Random(3)
    lines = []
    for i in range(n_rules):
        effect = "deny" if i % 10 == 0 else "allow"
        lines.append(f'[[{effect}]]\nprincipals = ["group:/vo{i % 500}"]\n'
                     f'paths = ["/pnfs/site/data/vo{i % 500}/p{i}/sub{rng.randint(0, 9)}"]\n')
    acl = Acl.from_text("".join(lines))
    identity = Identity(user="u", uid=1, groups=("/vo7",))
    view = acl.view(identity)
    paths = [f"/pnfs/site/data/vo7/p{rng.randrange(n_rules)}/sub{rng.randint(0, 9)}/a/b/c/f{i}.root"
             for i in range(lookups)]

    def run_view() -> None:
        allows = view.allows
        for p in paths:
            allows(p, "UPLOAD")

    def run_trie() -> None:
        allows = acl.allows
        for p in paths:
            allows(identity, p, "UPLOAD")

    tv, tt = best_of(run_view, 3), best_of(run_trie, 3)
    return {"rules": n_rules, "lookups": lookups, "view_lookups_per_s": lookups / tv,
            "trie_lookups_per_s": lookups / tt, "note": "includes the Python call and path canonicalisation"}


def run(n: int = 20000, repeats: int = 5, cli_records: int = 1_000_000, out_dir: Path | None = None,
        quick: bool = False) -> dict[str, Any]:
    if quick:
        n, repeats, cli_records = 2000, 2, 20000
    report: dict[str, Any] = {
        "benchmark": "codec", "fastev_version": __version__, "implementation": IMPLEMENTATION,
        "host": socket.gethostname(), "machine": platform.machine(), "python": platform.python_version(),
        "cpus": os.cpu_count(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sources": [measure_source(k, n, repeats) for k in KINDS_MEASURED],
        "cli": measure_cli(cli_records),
        "acl": [measure_acl(r, 20000) for r in (10, 1000, 100000)],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if out_dir is not None:
        write_report(report, out_dir)
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# fastev codec benchmark ({report['host']}, {report['time']})", "",
             f"fastev {report['fastev_version']} ({report['implementation']}), Python {report['python']}, "
             f"{report['cpus']} CPUs. One core; decode + validate + route (2 routes, one ACL view) + Avro encode.",
             "",
             "| source | bytes/rec | fastev rec/s | fastev MB/s | json peer rec/s | x json | x orjson | x msgspec |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in report["sources"]:
        fe = row["fastev"]
        peer = {p: row.get(p) for p in PEERS}
        cells = [f"{peer[p]['fastev_speedup']:.1f}x" if peer[p] else "n/a" for p in PEERS]
        json_rate = f"{peer['json']['records_per_s']:,.0f}" if peer["json"] else "n/a"
        lines.append(f"| {row['source']} | {row['mean_record_bytes']} | {fe['records_per_s']:,.0f} | "
                     f"{fe['mb_per_s']:.0f} | {json_rate} | " + " | ".join(cells) + " |")
    cli = report["cli"]
    lines += ["", f"`fastev decode --output avro` end to end on {cli['records']:,} dCache transfer/request "
              f"records ({cli['bytes'] / 1e6:.0f} MB): {cli['fastev']['records_per_s']:,.0f} rec/s vs "
              f"json+fastavro script {cli['json+fastavro']['records_per_s']:,.0f} rec/s: "
              f"**{cli['speedup']:.1f}x**.", "", "| ACL rules | view lookups/s | full-trie lookups/s |",
              "|---:|---:|---:|"]
    for a in report["acl"]:
        lines.append(f"| {a['rules']:,} | {a['view_lookups_per_s']:,.0f} | {a['trie_lookups_per_s']:,.0f} |")
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    """Records/s per source, fastev and the peers side by side (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["sources"] if r.get("json")]
    names = [r["source"] for r in rows]
    series = [("fastev", [r["fastev"]["records_per_s"] for r in rows])]
    series += [(f"{p} + fastavro", [r[p]["records_per_s"] for r in rows]) for p in PEERS]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series):
        ax.bar([i + k * width for i in range(len(names))], values, width, label=label)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(names))], names)
    ax.set_yscale("log")
    ax.set_ylabel("records/s (one core)")
    cli = report["cli"]
    ax.set_title(f"decode + validate + route + Avro-encode ({report['host']}); "
                 f"CLI end to end {cli['speedup']:.1f}x json+fastavro")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    from .report import write_report as write

    return write(report, out_dir, "codec", markdown, plot)
