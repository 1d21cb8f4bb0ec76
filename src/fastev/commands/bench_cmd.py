"""``fastev bench``: measured speed, peers in the same run, results under bench-results/."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _count(text: str) -> int:
    """A positive integer flag value (argparse turns the ValueError into a usage error, exit 2)."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _counts(text: str) -> tuple[int, ...]:
    return tuple(_count(x) for x in text.split(","))


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise ValueError(text)
    return value


def _gigabytes(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1024:
        raise ValueError(text)
    return value


def _milliseconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 10_000:
        raise ValueError(text)
    return value


def _out_dir(text: str) -> Path:
    """Results are written at the end of a long run: a path that cannot be a directory is refused now."""
    p = Path(text)
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory name")
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    return p


# argparse names the type in its message: "invalid count value: '0'".
_count.__name__ = "count (an integer >= 1)"
_counts.__name__ = "list of counts (integers >= 1, comma-separated)"
_seconds.__name__ = "seconds (0 < s <= 3600)"
_gigabytes.__name__ = "size in GB (0 < gb <= 1024)"
_milliseconds.__name__ = "milliseconds (0..10000)"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="benchmarks (results to bench-results/)")
    bsub = p.add_subparsers(dest="bench_command", required=True, metavar="BENCH")
    c = bsub.add_parser("codec", help="decode+validate+route+encode per source vs json/orjson/msgspec peers")
    c.add_argument("--records", type=_count, default=20000, help="records per source (default 20000)")
    c.add_argument("--repeats", type=_count, default=5)
    c.add_argument("--cli-records", type=_count, default=1_000_000, help="records for the end-to-end CLI row")
    c.add_argument("--out", type=_out_dir, default=Path("bench-results"), help="output directory")
    c.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    c.add_argument("--adversarial", action="store_true",
                   help="per-byte cost of worst-case records of each decoder next to typical ones")
    c.set_defaults(run=run_codec)
    pl = bsub.add_parser("pipeline", help="raw records -> Kafka on a real broker, fastev vs the peer bridge")
    pl.add_argument("--records", type=_count, default=200_000)
    pl.add_argument("--rates", type=_counts, default=(10_000, 50_000, 100_000),
                    help="offered events/s for the latency runs, comma-separated")
    pl.add_argument("--seconds", type=_seconds, default=3.0, help="length of each latency run")
    pl.add_argument("--repeats", type=_count, default=3, help="runs per throughput row (the best is kept)")
    pl.add_argument("--out", type=_out_dir, default=Path("bench-results"))
    pl.set_defaults(run=run_pipeline)
    ss = bsub.add_parser("sse", help="a swarm of SSE clients with mixed grants, fastev vs a plain aiohttp server")
    ss.add_argument("--clients", type=_counts, default=(1000, 10000),
                    help="client counts, comma-separated (one round each)")
    ss.add_argument("--rate", type=_count, default=80, help="events/s offered (each goes to a quarter of the clients)")
    ss.add_argument("--seconds", type=_seconds, default=5.0)
    ss.add_argument("--coalesce-ms", type=_milliseconds, default=None,
                    help="hub coalescing window (default: the sse.coalesce_ms default)")
    ss.add_argument("--out", type=_out_dir, default=Path("bench-results"))
    ss.set_defaults(run=run_sse)
    m = bsub.add_parser("memory", help="peak RSS of `fastev decode` streaming a large input")
    m.add_argument("--gb", type=_gigabytes, default=2.0, help="input size in GB (default 2)")
    m.add_argument("--out", type=_out_dir, default=Path("bench-results"))
    m.set_defaults(run=run_memory)


def run_codec(args: argparse.Namespace) -> int:
    if args.adversarial:
        from ..bench import codec_adversarial

        sizes = (4 << 10, 32 << 10) if args.quick else (64 << 10, 512 << 10)
        rep = codec_adversarial.run(sizes=sizes, out_dir=args.out)
        print(codec_adversarial.markdown(rep))
        print(f"results: {args.out}/codec-adversarial-{rep['host']}.json and .md")
        return 0
    from ..bench import codec

    report = codec.run(args.records, args.repeats, args.cli_records, args.out, quick=args.quick)
    print(codec.markdown(report))
    print(f"results: {args.out}/codec-{report['host']}.json and .md")
    return 0


def run_pipeline(args: argparse.Namespace) -> int:
    from ..bench import pipeline

    report = pipeline.run(args.records, args.rates, args.seconds, args.out, repeats=args.repeats)
    print(pipeline.markdown(report))
    return 0


def run_sse(args: argparse.Namespace) -> int:
    from ..bench import sse

    report = sse.run(args.clients, args.rate, args.seconds, args.out, coalesce_ms=args.coalesce_ms)
    print(sse.markdown(report))
    return 0


def run_memory(args: argparse.Namespace) -> int:
    from ..bench import memory

    report = memory.run(args.gb, args.out)
    print(json.dumps(report, indent=2))
    return 0
