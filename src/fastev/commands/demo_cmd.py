"""``fastev demo``: the main job on the embedded samples, end to end through a real broker.

Starts the embedded Kafka-protocol broker (Tansu, loopback, memory storage),
runs the demo pipeline (`fastev/demo/pipeline.toml`: a sample of every source,
per-community routes under an ACL, a tape route as Avro containers, a
dead-letter topic), consumes every topic back, decodes it with fastavro and
prints what each route delivered. Then a workflow runner (`fastev/demo/workflows.toml`)
acts on two route topics: a command writes a manifest line per new file, a chained
command announces it; the demo prints the outcomes read back from the results topic.
"""
from __future__ import annotations

import argparse
import io
from typing import Any, cast


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the main job on embedded sample data through a real broker",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import shutil
    import tempfile
    import tomllib
    from pathlib import Path

    from rich.console import Console

    from ..decoding import IMPLEMENTATION
    from ..demo import demo_dir
    from ..demo.workflow_run import run_demo_workflows
    from ..errors import ConfigError, DeliveryError
    from ..kafka import EmbeddedBroker
    from ..pipeline.config import parse_config
    from ..pipeline.run import run_pipeline

    console = Console(width=max(140, Console().width))
    with tempfile.TemporaryDirectory(prefix="fastev-demo-") as tmp:
        work = Path(tmp)
        for f in demo_dir().iterdir():  # the pipeline keeps checkpoints beside its config
            if f.suffix in (".jsonl", ".sse", ".json", ".toml"):
                shutil.copy(f, work / f.name)
        try:
            broker = EmbeddedBroker().start()
        except (ConfigError, DeliveryError) as e:
            console.print(f"fastev demo: cannot start the embedded broker: {e}")
            return 2
        try:
            console.print(f"fastev demo: embedded broker (Tansu, memory storage) on {broker.bootstrap}; "
                          f"{IMPLEMENTATION} codec")
            doc = tomllib.loads((work / "pipeline.toml").read_text())
            doc["kafka"] = {"bootstrap_servers": broker.bootstrap}
            config = parse_config(doc, work / "pipeline.toml")
            broker.create_topics(config.topics())
            summary = io.StringIO()
            status = run_pipeline(config, out=summary)
            console.print(summary.getvalue().rstrip())
            if status != 0:
                return status
            route_messages = _print_topics(console, broker.bootstrap, config)
            return run_demo_workflows(console, broker, work, route_messages)
        finally:
            broker.stop()


def _print_topics(console: Any, bootstrap: str, config: Any) -> dict[str, list[bytes]]:
    """Print what each route delivered; returns the message values per topic."""
    import fastavro
    from rich.table import Table

    from ..event import schema
    from ..kafka import consume_all

    parsed = fastavro.parse_schema(schema())
    table = Table(title="routes, consumed back from the broker and decoded with fastavro")
    for col in ("route", "topic", "format", "events", "kinds", "sample paths"):
        table.add_column(col, overflow="fold")
    messages: dict[str, list[bytes]] = {}
    for target in config.targets:
        events: list[dict[str, Any]] = []
        for msg in consume_all(bootstrap, [target.topic], idle_timeout=1.5):
            messages.setdefault(target.topic, []).append(msg.value())
            if target.format == "ocf":
                events += [cast(dict[str, Any], e) for e in fastavro.reader(io.BytesIO(msg.value()))]
            else:
                events.append(cast(dict[str, Any], fastavro.schemaless_reader(io.BytesIO(msg.value()), parsed)))
        kinds = ", ".join(sorted({e["kind"] for e in events}))
        paths = "\n".join(list(dict.fromkeys(e["path"] for e in events if e["path"]))[:3])
        table.add_row(target.name, target.topic, target.format, str(len(events)), kinds, paths)
    console.print(table)
    if config.dead_letter_topic:
        dead = Table(title=f"dead-letter topic {config.dead_letter_topic!r}")
        for col in ("source", "reason", "field", "record (first bytes)"):
            dead.add_column(col, overflow="fold")
        for msg in consume_all(bootstrap, [config.dead_letter_topic], idle_timeout=1.5):
            h = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (msg.headers() or [])}
            dead.add_row(h.get("fastev_source", ""), h.get("fastev_reason", ""), h.get("fastev_field", ""),
                         msg.value()[:60].decode("utf-8", "replace"))
        console.print(dead)
    return messages
