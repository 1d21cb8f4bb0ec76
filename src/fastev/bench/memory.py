"""``fastev bench memory``: stream a multi-GB input through ``fastev decode`` and report peak RSS.

The decoder works on bounded chunks, so peak RSS must not grow with the input.
"""
from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .records import stream


def _peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(before, after) / 1024, dt


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
