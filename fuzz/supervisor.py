"""Run a campaign in worker processes, so a crash or a sanitizer abort is a finding, not the end.

Each batch range gets two workers: the native side (under the sanitizer when
the campaign runs with it) and the reference side (without the sanitizer
runtime, which would slow the whole interpreter down 2-3x for nothing: the
reference has no native code). Each reports a digest of every batch's output;
batches whose digests differ, or where both sides raised, are rerun here with
both sides to shrink and save a reproducer. When a worker dies (a signal, an
ASan/UBSan abort), the batch it had started is regenerated from (seed, index)
and saved with the worker's stderr, and a new worker continues after it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from .campaign import Findings, check, make_case, save_reproducer
from .seeds import REPO, corpus
from .targets import Side

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer", "UndefinedBehaviorSanitizer")
SANITIZER_ENV = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")
SIDES = ("native", "reference")


class Totals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records = 0
        self.batches = 0
        self.cpu_seconds = {side: 0.0 for side in SIDES}
        self.mutations: dict[str, int] = {}
        self.by_target: dict[str, int] = {}
        self.by_source: dict[str, int] = {}
        self.signatures: dict[str, int] = {}
        self.crashes = 0
        self.sanitizer_reports = 0
        self.crash_reports: list[str] = []

    def add_batch(self, line: dict[str, Any]) -> None:
        """A batch both sides completed (its native side's line: records and mutations counted once)."""
        with self.lock:
            self.batches += 1
            self.records += line["records"]
            for k, v in line["mutations"].items():
                self.mutations[k] = self.mutations.get(k, 0) + v
            self.by_target[line["target"]] = self.by_target.get(line["target"], 0) + line["records"]
            self.by_source[line["source"]] = self.by_source.get(line["source"], 0) + line["records"]

    @property
    def findings(self) -> int:
        return sum(self.signatures.values()) + self.crashes


class Supervisor:
    def __init__(self, seed: int, out: Path, batch_records: int, generated: int, progress: bool) -> None:
        self.seed, self.out, self.batch_records, self.generated = seed, out, batch_records, generated
        self.progress = progress
        self.totals = Totals()
        self.digests: dict[str, dict[int, tuple[str, bool]]] = {side: {} for side in SIDES}
        self.crashed: set[int] = set()
        self.corpus = corpus(seed, generated)
        self.corpus_path = out / "corpus.json"
        self.corpus.save(self.corpus_path)
        self.fatal: str | None = None
        self.stopped = threading.Event()   # a time budget ran out or a signal came: finish what is done
        self._procs: set[subprocess.Popen[str]] = set()
        self._pending: dict[int, dict[str, Any]] = {}   # batch -> the line of the side that finished first

    def stop(self) -> None:
        self.stopped.set()
        with self.totals.lock:
            for proc in list(self._procs):
                proc.terminate()

    def run(self, batches: int, jobs: int) -> Totals:
        bounds = [batches * j // jobs for j in range(jobs + 1)]
        threads = [threading.Thread(target=self._range, args=(side, bounds[j], bounds[j + 1]))
                   for j in range(jobs) for side in SIDES]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if not self.fatal:
            self._compare(batches)
        return self.totals

    def _compare(self, batches: int) -> None:
        """Rerun, with both sides here, every batch whose sides disagree or both raised."""
        native, reference = self.digests["native"], self.digests["reference"]
        suspects = [i for i in range(batches) if i not in self.crashed and i in native and i in reference
                    and (native[i] != reference[i] or native[i][1])]
        if not suspects:
            return
        findings = Findings(self.out / "reproducers")
        sides = Side(native=True), Side(native=False)
        for index in suspects:
            signature = check(self.seed, index, self.corpus, self.batch_records, findings, *sides)
            signature = signature or f"difference not reproduced in one process (batch {index})"
            self.totals.signatures[signature] = self.totals.signatures.get(signature, 0) + 1

    def _range(self, side: str, start: int, end: int) -> None:
        index = start
        while index < end and not self.fatal and not self.stopped.is_set():
            index = self._worker(side, index, end)

    def _env(self, side: str) -> dict[str, str]:
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, PYTHONPATH=path)
        if side == "reference":  # pure Python: no sanitizer runtime, and no native module may load
            for name in SANITIZER_ENV:
                env.pop(name, None)
            env["FASTEV_NO_EXTENSIONS"] = "1"
        return env

    def _worker(self, side: str, start: int, end: int) -> int:
        """Run one worker from ``start``; the index to continue from (``end`` when done)."""
        errpath = self.out / f"worker-{side}-{start}.stderr"
        cmd = [sys.executable, "-m", "fuzz", "worker", "--side", side, "--seed", str(self.seed),
               "--start", str(start), "--end", str(end), "--batch-records", str(self.batch_records),
               "--corpus", str(self.corpus_path)]
        current, done = None, start
        with open(errpath, "wb") as err:
            with self.totals.lock:
                if self.stopped.is_set():
                    return end
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=REPO, env=self._env(side),
                                        text=True)
                self._procs.add(proc)
            assert proc.stdout is not None
            for text in proc.stdout:
                line = json.loads(text)
                if "start" in line:
                    current = line["start"]
                    continue
                self._completed(side, line)
                done, current = line["batch"] + 1, None
            rc = proc.wait()
            with self.totals.lock:
                self._procs.discard(proc)
        stderr = errpath.read_text(errors="replace")
        sanitizer = any(m in stderr for m in SANITIZER_MARKERS)
        if (rc == 0 or self.stopped.is_set()) and not sanitizer:
            errpath.unlink()
            return end
        if current is None and done == start:
            self.fatal = f"the {side} worker failed before its first batch (exit {rc}); see {errpath}"
            return end
        crashed = current if current is not None else done - 1
        self._crash(side, crashed, rc, sanitizer, stderr)
        return crashed + 1

    def _completed(self, side: str, line: dict[str, Any]) -> None:
        index, other = line["batch"], "reference" if side == "native" else "native"
        with self.totals.lock:
            self.totals.cpu_seconds[side] += line["cpu"]
            self.digests[side][index] = (line["digest"], line["raised"])
            if index not in self.digests[other]:
                self._pending[index] = line
                return
            native_line = line if side == "native" else self._pending.pop(index)
            self._pending.pop(index, None)
        self.totals.add_batch(native_line)
        if self.progress and self.totals.batches % 400 == 0:
            print(f"fuzz: {self.totals.records} records compared", flush=True)

    def _crash(self, side: str, index: int, rc: int, sanitizer: bool, stderr: str) -> None:
        case = make_case(self.seed, index, self.corpus, self.batch_records)
        kind = "sanitizer" if sanitizer else "crash"
        path = save_reproducer(self.out / "reproducers", f"{kind}-{case.target}-{case.source}-batch{index}", case,
                               {"kind": kind, "side": side, "batch": index, "seed": self.seed, "exit": rc,
                                "stderr_tail": stderr[-8000:]})
        with self.totals.lock:
            self.crashed.add(index)
            self.totals.crashes += 1
            self.totals.sanitizer_reports += sanitizer
            self.totals.crash_reports.append(f"{kind} on the {side} side in batch {index} (exit {rc}): {path.name}")
        print(f"fuzz: {kind} on the {side} side in batch {index} (exit {rc}); reproducer {path}", file=sys.stderr,
              flush=True)
