"""Run a campaign in worker processes, so a crash or a sanitizer abort is a finding, not the end.

Each worker runs a range of batches and reports each batch before and after
it. When a worker dies (a signal, an ASan/UBSan abort), the batch it had
started is regenerated here from (seed, index), saved as a reproducer with the
worker's stderr, and a new worker continues after it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .campaign import make_case, save_reproducer
from .seeds import REPO, Corpus, corpus

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer", "UndefinedBehaviorSanitizer")


class Totals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records = 0
        self.batches = 0
        self.worker_seconds = 0.0
        self.mutations: dict[str, int] = {}
        self.by_target: dict[str, int] = {}
        self.by_source: dict[str, int] = {}
        self.signatures: dict[str, int] = {}
        self.crashes = 0
        self.sanitizer_reports = 0
        self.crash_reports: list[str] = []

    def add_batch(self, line: dict[str, Any]) -> None:
        with self.lock:
            self.batches += 1
            self.records += line["records"]
            self.worker_seconds += line["secs"]
            for k, v in line["mutations"].items():
                self.mutations[k] = self.mutations.get(k, 0) + v
            self.by_target[line["target"]] = self.by_target.get(line["target"], 0) + line["records"]
            self.by_source[line["source"]] = self.by_source.get(line["source"], 0) + line["records"]
            if line["finding"]:
                self.signatures[line["finding"]] = self.signatures.get(line["finding"], 0) + 1

    @property
    def findings(self) -> int:
        return sum(self.signatures.values()) + self.crashes


class Supervisor:
    def __init__(self, seed: int, out: Path, batch_records: int, generated: int, progress: bool) -> None:
        self.seed, self.out, self.batch_records, self.generated = seed, out, batch_records, generated
        self.progress = progress
        self.totals = Totals()
        self._corpus: Corpus | None = None
        self._corpus_lock = threading.Lock()
        self.fatal: str | None = None

    def run(self, batches: int, jobs: int) -> Totals:
        bounds = [batches * j // jobs for j in range(jobs + 1)]
        threads = [threading.Thread(target=self._range, args=(bounds[j], bounds[j + 1])) for j in range(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self.totals

    def _range(self, start: int, end: int) -> None:
        index = start
        while index < end:
            index = self._worker(index, end)

    def _worker(self, start: int, end: int) -> int:
        """Run one worker from ``start``; the index to continue from (``end`` when done)."""
        errpath = self.out / f"worker-{start}.stderr"
        cmd = [sys.executable, "-m", "fuzz", "worker", "--seed", str(self.seed), "--start", str(start),
               "--end", str(end), "--out", str(self.out), "--batch-records", str(self.batch_records),
               "--generated", str(self.generated)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        current, done = None, start
        with open(errpath, "wb") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=REPO, env=env, text=True)
            assert proc.stdout is not None
            for text in proc.stdout:
                line = json.loads(text)
                if "start" in line:
                    current = line["start"]
                    continue
                self.totals.add_batch(line)
                done, current = line["batch"] + 1, None
                if self.progress and self.totals.batches % 200 == 0:
                    print(f"fuzz: {self.totals.records} records, {self.totals.findings} findings", flush=True)
            rc = proc.wait()
        stderr = errpath.read_text(errors="replace")
        sanitizer = any(m in stderr for m in SANITIZER_MARKERS)
        if rc == 0 and not sanitizer:
            errpath.unlink()
            return end
        if current is None and rc != 0 and done == start:
            self.fatal = f"the worker failed before its first batch (exit {rc}); see {errpath}"
            return end
        self._crash(current if current is not None else done - 1, rc, sanitizer, stderr)
        return (current if current is not None else done) + 1

    def _crash(self, index: int, rc: int, sanitizer: bool, stderr: str) -> None:
        with self._corpus_lock:
            if self._corpus is None:
                self._corpus = corpus(self.seed, self.generated)
        case = make_case(self.seed, index, self._corpus, self.batch_records)
        kind = "sanitizer" if sanitizer else "crash"
        path = save_reproducer(self.out / "reproducers", f"{kind}-{case.target}-{case.source}-batch{index}", case,
                               {"kind": kind, "batch": index, "seed": self.seed, "exit": rc,
                                "stderr_tail": stderr[-8000:]})
        with self.totals.lock:
            self.totals.crashes += 1
            self.totals.sanitizer_reports += sanitizer
            self.totals.crash_reports.append(f"{kind} in batch {index} (exit {rc}): {path.name}")
        print(f"fuzz: {kind} in batch {index} (exit {rc}); reproducer {path}", file=sys.stderr, flush=True)


def elapsed_since(t0: float) -> float:
    return round(time.monotonic() - t0, 1)
