"""``fastev bench codec --adversarial``: per-byte cost of the worst records of each decoder.

Each hostile record (many groups, many S3 records or rejected items, long and escaped
strings, deep nesting, many keys or flags) is decoded on its own, natively and by the
reference, and its cost per byte is set next to the cost per byte of typical records of
the same decoder, at two record sizes. A ratio that stays put from the small to the large
size means the decoder's cost is linear in the input; a quadratic path shows up as a ratio
that grows with the record's size (8x larger: about 8x the ratio).
"""
from __future__ import annotations

import json
import os
import platform
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..options import MAX_GROUPS
from .codec import best_of
from .records import INOTIFY_WATCHES, generate

MAX_BYTES = 4 << 20   # the decoders' record limit for this run: every case fits
SSE_SUB = "https://frontend.example.org:3880/api/v1/events/channels/Q2hhbm5lbA/subscriptions/inotify/W1"


def _billing(size: int, **fields: Any) -> bytes:
    rec: dict[str, Any] = {"msgType": "transfer", "date": "2026-02-11T09:14:05.310+01:00", "isWrite": "read",
                           "transferPath": "/pnfs/example.org/data/atlas/f", "fileSize": 1, "cellName": "pool1",
                           "cellDomain": "d1"}
    rec.update(fields)
    return json.dumps(rec).encode()


def _fill(make: Callable[[int], bytes], size: int) -> bytes:
    """make(n) for the largest n (doubling, then bisecting) whose record is at most ``size`` bytes."""
    n = 1
    while len(make(n * 2)) <= size:
        n *= 2
    lo, hi = n, n * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if len(make(mid)) <= size else (lo, mid)
    return make(lo)


def _s3_item(i: int) -> dict[str, Any]:
    return {"eventName": "ObjectCreated:Put", "eventTime": "2026-02-11T09:14:05.310Z",
            "s3": {"bucket": {"name": "atlas"}, "object": {"key": f"d/f{i}", "size": i}}}


def _sse(data: dict[str, Any]) -> bytes:
    return b"event: inotify\nid: 1\ndata: " + json.dumps(data).encode() + b"\n\n"


def cases(size: int) -> list[tuple[str, str, bytes]]:
    """(decoder, case, record) of about ``size`` bytes each."""
    groups = [f"FQANPrincipal[/atlas/g{i}]" for i in range(MAX_GROUPS)]
    return [
        ("dcache-billing", "groups at the cap, repeated",
         _fill(lambda n: _billing(size, subject=[groups[i % MAX_GROUPS] for i in range(n)]), size)),
        ("dcache-billing", "groups over the cap (rejected)",
         _fill(lambda n: _billing(size, subject=[f"FQANPrincipal[/g{i}]" for i in range(n)]), size)),
        ("dcache-billing", "one long escaped path",
         _fill(lambda n: _billing(size, transferPath="/pnfs/" + "\u00e9\\" * n), size)),
        ("dcache-billing", "deep nesting in an unread field",
         _fill(lambda n: _billing(size, note=json.loads("[" * 60 + "1" + "]" * 60),
                                  pad=["x" * 50] * n), size)),
        ("dcache-billing", "many unread keys", _fill(lambda n: _billing(size, **{f"k{i}": i for i in range(n)}), size)),
        ("s3", "many records in one message",
         _fill(lambda n: json.dumps({"Records": [_s3_item(i) for i in range(n)]}).encode(), size)),
        ("s3", "many rejected items", _fill(lambda n: b'{"Records":[' + b",".join([b"1"] * n) + b"]}", size)),
        ("s3", "many records missing a field",
         _fill(lambda n: json.dumps({"Records": [{"eventName": "x"}] * n}).encode(), size)),
        ("s3", "one long percent-encoded key",
         _fill(lambda n: json.dumps({"Records": [dict(_s3_item(0), s3={"bucket": {"name": "b"}, "object": {
             "key": "%41" * n}})]}).encode(), size)),
        ("gpfs-audit", "one long path",
         _fill(lambda n: json.dumps({"LWE_JSON": "0.0.5", "event": "CREATE",
                                     "eventTime": "2026-02-11_09:14:05.310+0100",
                                     "path": "/gpfs/" + "a/" * n + "f"}).encode(), size)),
        ("gpfs-audit", "many unread keys",
         _fill(lambda n: json.dumps({"LWE_JSON": "0.0.5", "event": "CREATE", "path": "/gpfs/f",
                                     "eventTime": "2026-02-11_09:14:05.310+0100",
                                     **{f"k{i}": "v" for i in range(n)}}).encode(), size)),
        ("gpfs-watch", "many unread keys",
         _fill(lambda n: json.dumps({"WF_JSON": "0.0.1", "event": "IN_CREATE", "mask": "0x100", "path": "/gpfs/f",
                                     "eventTime": "2026-02-11_09:14:05.310+0100",
                                     **{f"k{i}": "v" for i in range(n)}}).encode(), size)),
        ("dcache-inotify", "many mask flags",
         _fill(lambda n: _sse({"event": {"name": "f", "mask": ["IN_ISDIR"] * n + ["IN_CREATE"]},
                               "subscription": SSE_SUB}), size)),
        ("dcache-inotify", "one long escaped name",
         _fill(lambda n: _sse({"event": {"name": "\u00e9" * n, "mask": ["IN_CREATE"]}, "subscription": SSE_SUB}),
               size)),
    ]


def _decoders() -> dict[str, Any]:
    """The reference, and the native core unless FASTEV_NO_EXTENSIONS=1 or it is not built."""
    from .._native import use_native
    from .._ref import decoder as ref

    impls: dict[str, Any] = {"reference": ref}
    if use_native():
        try:
            from .._core import codec
        except ImportError:
            return impls
        impls = {"native": codec, "reference": ref}
    return impls


def _ns_per_byte(mod: Any, decoder: str, records: list[bytes], repeats: int) -> tuple[float, dict[str, int]]:
    total = sum(len(r) for r in records)
    opts: dict[str, Any] = {"max_record_bytes": MAX_BYTES, "now_us": 0}
    if decoder == "dcache-inotify":
        opts["inotify_watches"] = INOTIFY_WATCHES

    def run() -> Any:
        return mod.Decoder(decoder, **opts).feed_records(records)

    stats = run().stats.as_dict()
    return best_of(run, repeats) / total * 1e9, stats


def run(sizes: tuple[int, ...] = (64 << 10, 512 << 10), typical_records: int = 500, repeats: int = 3,
        out_dir: Path | None = None) -> dict[str, Any]:
    impls = _decoders()
    typical: dict[str, dict[str, float]] = {}
    for decoder in ("dcache-billing", "gpfs-audit", "gpfs-watch", "s3", "dcache-inotify"):
        recs = generate(decoder, typical_records)
        typical[decoder] = {name: _ns_per_byte(mod, decoder, recs, repeats)[0] for name, mod in impls.items()}
    rows = []
    for size in sizes:
        for decoder, case, raw in cases(size):
            row: dict[str, Any] = {"decoder": decoder, "case": case, "bytes": len(raw)}
            for name, mod in impls.items():
                ns, stats = _ns_per_byte(mod, decoder, [raw], repeats if name == "native" else 1)
                row[name] = {"ns_per_byte": ns, "x_typical": ns / typical[decoder][name], "stats": stats}
            rows.append(row)
    report = {
        "benchmark": "codec-adversarial", "fastev_version": __version__, "host": socket.gethostname(),
        "machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "record_bytes": list(sizes),
        "typical_records": typical_records, "typical_ns_per_byte": typical, "cases": rows,
    }
    if out_dir is not None:
        from .report import write_report

        write_report(report, out_dir, "codec-adversarial", markdown, _no_plot)
    return report


def _no_plot(report: dict[str, Any], path: Path) -> None:
    raise ImportError("the table is the report")   # write_report skips the plot on ImportError


def markdown(report: dict[str, Any]) -> str:
    impls = [k for k in ("native", "reference") if k in report["cases"][0]]
    lines = [f"# fastev codec: worst-case records ({report['host']}, {report['time']})", "",
             f"fastev {report['fastev_version']}, Python {report['python']}, {report['cpus']} CPUs, one core. "
             f"Each hostile record (about {' and '.join(f'{b // 1024} KiB' for b in report['record_bytes'])}) "
             f"decoded alone; cost per byte next to typical records of the same decoder "
             f"({report['typical_records']} generated records). The same x typical at both sizes: cost linear "
             "in the input (a quadratic path grows with the size).", "",
             "| decoder | case | bytes | " + " | ".join(f"{i} ns/B | {i} x typical" for i in impls)
             + " | decoded / rejected |",
             "|---|---|---:|" + "---:|---:|" * len(impls) + "---|"]
    for decoder, t in report["typical_ns_per_byte"].items():
        lines.append(f"| {decoder} | typical records | | " + " | ".join(f"{t[i]:.1f} | 1.0" for i in impls)
                     + " | |")
    for r in report["cases"]:
        st = r[impls[0]]["stats"]
        lines.append(f"| {r['decoder']} | {r['case']} | {r['bytes']:,} | "
                     + " | ".join(f"{r[i]['ns_per_byte']:.1f} | {r[i]['x_typical']:.1f}" for i in impls)
                     + f" | {st['decoded']} / {st['rejected']} |")
    return "\n".join(lines) + "\n"
