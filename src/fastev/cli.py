"""The ``fastev`` command: ``main(argv) -> int``; each subcommand lives in fastev.commands.

Exit statuses of every subcommand: 0 done, 1 some record rejected or a delivery
failed, 2 usage or configuration error (one ``fastev CMD: error: ...`` line on
stderr), 70 an unexpected internal error (a bug: one line naming it; set
``FASTEV_TRACEBACK=1`` to see the traceback), 130 interrupted.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .commands import acl_cmd, bench_cmd, broker_cmd, decode_cmd, demo_cmd, route_cmd, run_cmd, serve_cmd, workflow_cmd
from .errors import ConfigError, DeliveryError

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line pointing at --help (not the whole wrapped usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fastev", description="Fast, secure, lossless storage-event streams.")
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
    workflow_cmd.add_parser(sub)
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
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `fastev decode ... | head`
        sys.stderr.close()
        return EXIT_OK
    # What the subcommands did not turn into their own message: still one line, never a traceback for a
    # user; FASTEV_TRACEBACK=1 re-raises so developers see where it came from.
    except ConfigError as e:
        return _report(args.command, str(e), EXIT_USAGE)
    except DeliveryError as e:
        return _report(args.command, str(e), EXIT_REJECTED)
    except OSError as e:  # a path or port the user named: not a bug of fastev
        where = f"{e.filename}: " if e.filename else ""
        return _report(args.command, f"{where}{e.strerror or e}", EXIT_USAGE)
    except Exception as e:  # noqa: BLE001 - the last line of defence; a bug, reported as one
        return _report(args.command, f"internal error (a bug, please report it): {type(e).__name__}: {e} "
                       "(FASTEV_TRACEBACK=1 shows the traceback)", EXIT_INTERNAL)
    return result


def _report(command: str, message: str, status: int) -> int:
    if os.environ.get("FASTEV_TRACEBACK", "") not in ("", "0"):
        raise  # noqa: PLE0704 - re-raises the exception being handled by main()
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    print(f"fastev {command}: error: {first}", file=sys.stderr, flush=True)
    return status


def entry() -> None:
    sys.exit(main())
