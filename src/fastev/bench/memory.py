"""``fastev bench memory``: stream a multi-GB input through ``fastev decode`` and report peak RSS.

The decoder works on bounded chunks, so peak RSS must not grow with the input.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .records import stream

_MEASURE = (
    "import resource, subprocess, sys; "
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """Peak RSS of one run of ``cmd``, measured by a fresh parent (RUSAGE_CHILDREN is a running max)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, check=True)
    dt = time.perf_counter() - t0
    return int(out.stdout.strip()) / 1024, dt


def run(gb: float, out_dir: Path | None) -> dict[str, Any]:
    chunk = stream("dcache-billing", 20000, seed=5)
    report: dict[str, Any] = {"benchmark": "memory", "host": socket.gethostname(),
                              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for size_gb in sorted({min(0.1, gb), gb}):
            path = Path(tmp) / f"in-{size_gb}.jsonl"
            with open(path, "wb") as f:
                written = 0
                while written < size_gb * 1e9:
                    f.write(chunk)
                    written += len(chunk)
            for output in ("avro", "jsonl"):
                cmd = [sys.executable, "-m", "fastev", "decode", "--source", "dcache-billing",
                       "--output", output, str(path)]
                rss, dt = _peak_rss_mb(cmd)
                report["runs"].append({"input_gb": round(written / 1e9, 2), "output": output,
                                       "peak_rss_mb": round(rss, 1), "seconds": round(dt, 1),
                                       "mb_per_s": round(written / dt / 1e6, 1)})
            path.unlink()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"memory-{report['host']}.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
