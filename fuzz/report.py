"""The campaign report: JSON for machines, Markdown for the repository (bench-results/fuzz-<host>.*)."""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

from .seeds import REPO
from .supervisor import Totals


def _build() -> dict[str, Any]:
    from fastev._core import codec

    preload = os.environ.get("LD_PRELOAD", "")
    # The commit the native core was built from (make build-asan records it next to the modules): HEAD may
    # have moved while a long campaign ran. Without that record, HEAD now, marked as such.
    stamp = Path(codec.__file__).parent / "BUILT_FROM"
    if stamp.is_file():
        commit = stamp.read_text().strip()
    else:
        head = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True)
        commit = f"{head.stdout.strip()} (HEAD at report time)" if head.stdout.strip() else ""
    return {"native_core": os.path.relpath(codec.__file__, REPO),
            "sanitizers": [s for s in ("asan", "ubsan") if f"lib{s}" in preload],
            "python": platform.python_version(), "commit": commit or None}


def build_report(args: argparse.Namespace, totals: Totals, seconds: float, interrupted: bool) -> dict[str, Any]:
    return {
        "requested_records": args.records, "interrupted": interrupted,
        "host": socket.gethostname(), "seed": args.seed, "jobs": args.jobs, "batch_records": args.batch_records,
        "build": _build(),
        "records": totals.records, "batches": totals.batches, "seconds": round(seconds, 1),
        "records_per_second": round(totals.records / seconds) if seconds else 0,
        "cpu_seconds": {k: round(v, 1) for k, v in totals.cpu_seconds.items()},
        # what one core does: records over the CPU time of both sides (generation included in each)
        "records_per_cpu_second": round(totals.records / cpu) if (cpu := sum(totals.cpu_seconds.values())) else 0,
        "mutations": dict(sorted(totals.mutations.items())),
        "records_by_target": dict(sorted(totals.by_target.items())),
        "records_by_source": dict(sorted(totals.by_source.items())),
        "findings": {"total": totals.findings, "differences_and_exceptions": sum(totals.signatures.values()),
                     "crashes": totals.crashes, "sanitizer_reports": totals.sanitizer_reports,
                     "by_signature": dict(sorted(totals.signatures.items(), key=lambda kv: -kv[1])),
                     "crash_reports": totals.crash_reports},
    }


def markdown(r: dict[str, Any]) -> str:
    f = r["findings"]
    lines = [
        f"# Differential fuzz campaign on {r['host']}",
        "",
        "Native core vs the pure-Python reference (`python -m fuzz run`, see fuzz/__init__.py).",
        "",
        "| | |", "|---|---|",
        f"| records | {r['records']:,} in {r['batches']:,} batches of {r['batch_records']}"
        f"{' (stopped early: ' + format(r['requested_records'], ',') + ' requested)' if r['interrupted'] else ''} |",
        f"| time | {r['seconds']} s wall with {r['jobs']} job(s): {r['records_per_second']:,} records/s; "
        f"CPU native side {r['cpu_seconds']['native']} s, reference side {r['cpu_seconds']['reference']} s: "
        f"{r['records_per_cpu_second']:,} records per CPU second (one core) |",
        f"| build | `{r['build']['native_core']}`, sanitizers: {', '.join(r['build']['sanitizers']) or 'none'}, "
        f"Python {r['build']['python']}, commit {r['build']['commit']} |",
        f"| seed | {r['seed']} |",
        f"| findings | {f['total']} ({f['differences_and_exceptions']} differences or exceptions, "
        f"{f['crashes']} crashes, {f['sanitizer_reports']} sanitizer reports) |",
        "", "## Records per target and source", "", "| target | records |", "|---|---:|",
        *[f"| {k} | {v:,} |" for k, v in r["records_by_target"].items()],
        "", "| source | records |", "|---|---:|",
        *[f"| {k} | {v:,} |" for k, v in r["records_by_source"].items()],
        "", "## Mutations per kind", "", "| mutation | applied |", "|---|---:|",
        *[f"| {k} | {v:,} |" for k, v in r["mutations"].items()],
    ]
    if f["total"]:
        lines += ["", "## Findings (batches, grouped by signature)", "", "| batches | signature |", "|---:|---|",
                  *[f"| {n} | `{s}` |" for s, n in f["by_signature"].items()],
                  *[f"| 1 | {c} |" for c in f["crash_reports"]]]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], *paths: Path | None) -> None:
    for prefix in paths:
        if prefix is None:
            continue
        prefix.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{prefix}.json").write_text(json.dumps(report, indent=1) + "\n")
        Path(f"{prefix}.md").write_text(markdown(report))
