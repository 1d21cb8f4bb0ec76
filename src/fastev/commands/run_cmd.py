"""``fastev run --config FILE``: raw storage records in, per-route Avro Kafka topics out, at-least-once.

File and stdin sources run to the end of their input; then everything is
flushed and a summary is printed (exit 0). Kafka sources run until SIGTERM or
SIGINT, which drains and flushes before exit. A position (file checkpoint,
Kafka offset) is committed only after everything derived from it is
acknowledged; a restart resumes from there. Without kafka.bootstrap_servers the
embedded broker (fastev[embedded]) is started. Exit status: 0 done, 1 delivery
failed (nothing after the failure committed), 2 configuration error.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="route raw records into Avro Kafka topics (at-least-once)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE", help="pipeline config (TOML)")
    p.add_argument("--summary-json", metavar="FILE", help="also write the summary as JSON to FILE")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown on a terminal)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..pipeline import load_config, run_pipeline
    from ..pipeline.preflight import check_before_connecting

    # Everything the config names (keys, ACL, routes, input files, listen ports) is checked before any
    # broker is started or connected to: a config mistake is exit 2, never a delivery failure.
    try:
        if args.summary_json is not None:
            _check_writable(args.summary_json)
        config = load_config(args.config)
        warnings = check_before_connecting(config)
    except ConfigError as e:
        print(f"fastev run: error: {e}", file=sys.stderr)
        return 2
    for w in warnings:
        print(f"fastev run: warning: {w}", file=sys.stderr, flush=True)
    progress = not args.no_progress and sys.stderr.isatty()
    return run_pipeline(config, progress=progress, summary_json=args.summary_json)


def _check_writable(path: str) -> None:
    """--summary-json is written at the end: a path that cannot be written is refused at the start."""
    import os
    from pathlib import Path

    from ..errors import ConfigError

    p = Path(path)
    reason = ("is a directory" if p.is_dir() else "no such directory" if not p.parent.is_dir()
              else "directory not writable" if not os.access(p.parent, os.W_OK) else None)
    if reason is not None:
        raise ConfigError(f"--summary-json: cannot write {path}: {reason}")


def main(argv: list[str] | None = None) -> int:
    """``python -m fastev.commands.run_cmd --config FILE`` (same as ``fastev run``)."""
    parser = argparse.ArgumentParser(prog="fastev")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["run", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
