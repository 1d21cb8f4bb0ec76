"""``fastev workflow run|check --config FILE``: event-driven workflows on the route topics (README "Workflows").

run    consume the route topics, run every matching workflow's action at least once, in order per path,
       until SIGTERM/SIGINT (running actions get [workflows] grace_s to finish, then offsets are committed).
check  validate the config; with ``--source FORMAT INPUT...`` decode raw records and print, for each event,
       the workflows it would trigger and the rendered action, running nothing.

Exit status: 0 done, 1 Kafka failed (nothing after the failure committed), 2 configuration error.
"""
from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path
from typing import IO, Any

PROG = "fastev workflow"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("workflow", help="run actions on storage events (command, webhook), at least once",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    wsub = p.add_subparsers(dest="workflow_command", required=True, metavar="{run,check}")
    run_p = wsub.add_parser("run", help="consume the route topics and run the workflows")
    run_p.add_argument("--config", required=True, metavar="FILE", help="workflow config (TOML)")
    run_p.add_argument("--no-progress", action="store_true", help="no live table (default: shown on a terminal)")
    run_p.set_defaults(run=run)
    check_p = wsub.add_parser("check", help="validate a config; show what raw records would trigger")
    check_p.add_argument("--config", required=True, metavar="FILE", help="workflow config (TOML)")
    check_p.add_argument("--source", nargs="+", action="append", metavar=("FORMAT", "INPUT"),
                         help="a decoder name (or auto) and raw input files ('-' = stdin); repeatable")
    check_p.set_defaults(run=check)


def run(args: argparse.Namespace) -> int:
    from ..aio import run_event_loop
    from ..errors import ConfigError
    from ..workflow.config import load_workflow_config

    try:
        config = load_workflow_config(args.config)
        if not config.bootstrap_servers:
            raise ConfigError(f"{args.config}: kafka.bootstrap_servers: required by `fastev workflow run`")
    except ConfigError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    from ..workflow.engine import WorkflowRunner

    runner = WorkflowRunner(config)
    try:
        runner.connect()
        live = not args.no_progress and sys.stderr.isatty()
        summary = run_event_loop(_main(runner, live))
    finally:
        runner.close()
    _print_summary(summary, sys.stderr)
    return 0


async def _main(runner: Any, live: bool) -> dict[str, Any]:
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    cfg = runner.config
    print(f"{PROG}: {len(cfg.workflows)} workflow(s) on {', '.join(runner.topics)} as group {cfg.group!r}"
          + (f"; metrics on http://{runner.stats.address[0]}:{runner.stats.address[1]}/metrics"
             if runner.stats.address else ""), file=sys.stderr, flush=True)
    table = asyncio.create_task(_live_table(runner, stop)) if live else None
    try:
        summary: dict[str, Any] = await runner.run(stop)
        return summary
    finally:
        if table is not None:
            table.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _live_table(runner: Any, stop: Any) -> None:
    import asyncio

    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    def render() -> Table:
        t = Table(title="fastev workflows")
        for col in ("workflow", "in flight", "matched", "started", "succeeded", "retried", "dead", "dead reasons"):
            t.add_column(col, justify="left" if col in ("workflow", "dead reasons") else "right")
        for row in runner.stats.rows():
            t.add_row(*row)
        return t

    with Live(render(), console=Console(stderr=True), refresh_per_second=2, transient=False) as live:
        while not stop.is_set():
            await asyncio.sleep(0.5)
            live.update(render())


def _print_summary(summary: dict[str, Any], out: IO[str]) -> None:
    for name, c in summary["workflows"].items():
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(c["dead_reasons"].items()))
        print(f"{PROG}: {name}: {c['matched']} matched, {c['succeeded']} succeeded, {c['dead']} dead"
              + (f" ({reasons})" if reasons else "") + f", {c['retried']} retried", file=out)
    if summary["invalid_messages"]:
        print(f"{PROG}: {summary['invalid_messages']} message(s) were not StorageEvents (dead-lettered)", file=out)


# -- check ---------------------------------------------------------------------------------------
class _EchoOutput(dict[str, Any]):
    """Upstream output at check time: not known yet, so ``{output.KEY}`` is shown as written."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return "{output." + key + "}"

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]


def check(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..workflow.config import load_workflow_config

    try:
        config = load_workflow_config(args.config)
        events = [e for fmt, *inputs in (args.source or []) for e in _decode(fmt, inputs)]
    except ConfigError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    out = sys.stdout
    print(f"{args.config}: OK: {len(config.workflows)} workflow(s): "
          + ", ".join(f"{w.name} ({w.action.type}" + (f", after {w.match.after}" if w.match.after else "") + ")"
                      for w in config.workflows), file=out)
    if args.source:
        _show_triggers(config, events, out)
    return 0


def _decode(fmt: str, inputs: list[str]) -> list[dict[str, Any]]:
    from ..decoding import decode
    from ..errors import ConfigError
    from ..event import DECODER_NAMES

    if fmt != "auto" and fmt not in DECODER_NAMES:
        raise ConfigError(f"--source: unknown format {fmt!r} (known: auto, {', '.join(DECODER_NAMES)})")
    if not inputs:
        raise ConfigError(f"--source {fmt}: name at least one INPUT file ('-' for stdin)")
    events: list[dict[str, Any]] = []
    for name in inputs:
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as e:
            raise ConfigError(f"--source {fmt}: cannot read {name}: {e.strerror}") from None
        result = decode(data, fmt)
        for err in result.errors:
            print(f"{PROG}: {name}: record {err.index}: rejected ({err.reason}): {err.message}", file=sys.stderr)
        events += [e.to_dict() for e in result.events]
    return events


def _show_triggers(config: Any, events: list[dict[str, Any]], out: IO[str]) -> None:
    from ..workflow.match import Matcher

    matchers = {w.name: Matcher(w.match) for w in config.workflows}
    for event in events:
        print(f"{event['id']} {event['kind']} {event['path']}", file=out)
        triggered = [w.name for w in config.workflows if w.match.after is None and matchers[w.name].matches(event)]
        shown = set()
        while triggered:
            name = triggered.pop(0)
            if name in shown:
                continue
            shown.add(name)
            spec = next(w for w in config.workflows if w.name == name)
            after = f" (after {spec.match.after} succeeds)" if spec.match.after else ""
            print(f"  -> {name}{after}: {_rendered(spec, event)}", file=out)
            triggered += [w.name for w in config.workflows if w.match.after == name and matchers[w.name].matches(event)]
        if not shown:
            print("  (no workflow)", file=out)


def _rendered(spec: Any, event: dict[str, Any]) -> str:
    output = _EchoOutput() if spec.match.after else None
    action = spec.action
    try:
        if action.type == "command":
            return "argv " + shlex.join(t.render(event, output) for t in action.argv)
        # upstream output is unknown at check time: show its placeholders as written, not percent-encoded
        url = re.sub(r"%7Boutput\.([A-Za-z0-9_.-]+)%7D", r"{output.\1}", action.url.render_url(event, output))
        text = f"{action.method} {url} ({action.mode}"
        return text + (f", batches of up to {action.batch.max_events})" if action.batch else ")")
    except ValueError as e:
        return f"cannot render: {e} (would be dead-lettered as rejected)"
