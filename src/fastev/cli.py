"""The ``fastev`` command: ``main(argv) -> int``; each subcommand lives in fastev.commands."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .commands import acl_cmd, bench_cmd, broker_cmd, decode_cmd, demo_cmd, route_cmd, run_cmd, serve_cmd

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastev", description="Fast, secure, lossless storage-event streams.")
    parser.add_argument("--version", action="version", version=f"fastev {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    decode_cmd.add_parser(sub)
    acl_cmd.add_parser(sub)
    route_cmd.add_parser(sub)
    bench_cmd.add_parser(sub)
    demo_cmd.add_parser(sub)
    broker_cmd.add_parser(sub)
    run_cmd.add_parser(sub)
    serve_cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: usage errors exit 2, --help/--version exit 0
        return int(e.code) if isinstance(e.code, int) else EXIT_USAGE
    try:
        result: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `fastev decode ... | head`
        sys.stderr.close()
        return EXIT_OK
    return result


def entry() -> None:
    sys.exit(main())
