"""Command line: ``python -m fuzz run|worker|replay`` (run from the repository root).

Exit status of ``run``: 0 no findings, 1 findings (differences, exceptions,
crashes or sanitizer reports; reproducers under --out), 2 usage or setup error,
3 no findings but stopped early (--max-seconds, SIGINT or SIGTERM: the report
then covers the batches both sides completed).
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from .campaign import BATCH_RECORDS, run_side
from .report import build_report, write_report
from .seeds import Corpus
from .supervisor import Supervisor


def _run(args: argparse.Namespace) -> int:
    if args.records < 1 or args.jobs < 1 or args.batch_records < 1:
        print("fuzz: --records, --jobs and --batch-records must be positive", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    batches = -(-args.records // args.batch_records)
    t0 = time.monotonic()
    sup = Supervisor(args.seed, args.out, args.batch_records, args.generated, progress=not args.quiet)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: sup.stop())
    if args.max_seconds:
        timer = threading.Timer(args.max_seconds, sup.stop)
        timer.daemon = True
        timer.start()
    totals = sup.run(batches, args.jobs)
    if sup.fatal:
        print(f"fuzz: {sup.fatal}", file=sys.stderr)
        return 2
    report = build_report(args, totals, time.monotonic() - t0, interrupted=sup.stopped.is_set())
    write_report(report, args.out / "report", args.report)
    summary = (f"fuzz: {report['records']} records in {report['seconds']} s ({report['records_per_second']}/s), "
               f"{report['findings']['total']} findings")
    print(summary)
    for sig, n in sorted(totals.signatures.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {n:6d}  {sig}")
    for line in totals.crash_reports:
        print(f"  {line}")
    if report["findings"]["total"]:
        return 1
    return 3 if sup.stopped.is_set() else 0


def _worker(args: argparse.Namespace) -> int:
    seeds = Corpus.load(args.corpus)

    def emit(line: str) -> None:
        print(line, flush=True)

    run_side(args.seed, args.start, args.end, seeds, args.side, args.batch_records, emit)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from .targets import Case, Side, first_difference, run

    saved = json.loads(args.file.read_text())
    case = Case.from_json(saved["case"])
    native, reference = run(Side(native=True), case), run(Side(native=False), case)
    print(json.dumps(saved["finding"], indent=1)[:4000])
    if native == reference:
        print("replay: native and reference agree now")
        return 0
    print(f"replay: {first_difference(native, reference)}")
    if args.verbose:
        print(f"native:    {native!r}\nreference: {reference!r}")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="a campaign")
    run.add_argument("--records", type=int, default=50_000)
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--jobs", type=int, default=1,
                     help="batch ranges run at once (each by a native and a reference worker process)")
    run.add_argument("--out", type=Path, default=Path("build/fuzz"), help="reproducers and worker logs")
    run.add_argument("--report", type=Path, help="also write the report as REPORT.json and REPORT.md")
    run.add_argument("--batch-records", type=int, default=BATCH_RECORDS)
    run.add_argument("--generated", type=int, default=150, help="generator records per source in the corpus")
    run.add_argument("--max-seconds", type=float, help="stop after this time and report what was done")
    run.add_argument("--quiet", action="store_true")
    worker = sub.add_parser("worker", help="internal: run a range of batches")
    for name in ("--seed", "--start", "--end", "--batch-records"):
        worker.add_argument(name, type=int, required=True)
    worker.add_argument("--corpus", type=Path, required=True, help="the campaign's corpus.json")
    worker.add_argument("--side", choices=("native", "reference"), required=True)
    replay = sub.add_parser("replay", help="rerun a saved reproducer")
    replay.add_argument("file", type=Path)
    replay.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    return {"run": _run, "worker": _worker, "replay": _replay}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
