"""The workflow part of ``fastev demo``: ``fastev/demo/workflows.toml`` on the demo's route topics.

A ``WorkflowRunner`` runs in-process on the embedded broker. It stops once the results topic holds an
outcome for every (event, workflow) pair that must have one: each event of the consumed route topics that
a root workflow matches, and each succeeded upstream result that a chained workflow matches. Counting
results is exact; the broker's high watermarks are not (Tansu under-reports them, see
``fastev.kafka.consume_all``).
"""
from __future__ import annotations

import asyncio
import sys
import time
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from ..errors import ConfigError, DeliveryError
from ..workflow.config import WorkflowsConfig, parse_workflow_config
from ..workflow.engine import WorkflowRunner, runner_summary_line
from ..workflow.match import Matcher
from ..workflow.messages import MessageError, read_events

__all__ = ("PYTHON", "MANIFEST", "demo_workflow_config", "expected_outcomes", "run_demo_workflows")

PYTHON = "python3"         # argv[0] in workflows.toml; the demo runs its own interpreter instead
MANIFEST = "manifest.tsv"  # the manifest argument in workflows.toml; the demo writes it in its work directory
OUTCOMES_TIMEOUT_S = 60.0  # generous: a stuck demo says what is missing instead of hanging


def demo_workflow_config(work: Path, bootstrap: str) -> WorkflowsConfig:
    """workflows.toml (copied into ``work``) with the broker, this interpreter and the manifest in ``work``."""
    doc = tomllib.loads((work / "workflows.toml").read_text())
    doc["kafka"] = {"bootstrap_servers": bootstrap}
    for workflow in doc.get("workflow", []):
        action = workflow.get("action", {})
        if action.get("type") == "command":
            argv = list(action["argv"])
            if argv and argv[0] == PYTHON:
                argv[0] = sys.executable  # the interpreter that has fastev, whichever `python3` is on PATH
            action["argv"] = [str(work / MANIFEST) if a == MANIFEST else a for a in argv]
    return parse_workflow_config(doc, work / "workflows.toml")


def expected_outcomes(config: WorkflowsConfig, route_messages: Mapping[str, Sequence[bytes]],
                      results: Sequence[Mapping[str, Any]]) -> set[str]:
    """Result ids (``<workflow>/<event id>``) that must appear, given the route messages and the results
    read so far (chained workflows follow their upstream's succeeded results)."""
    want: set[str] = set()
    roots = [(w.name, Matcher(w.match)) for w in config.workflows if w.match.after is None]
    for topic in config.topics:
        for value in route_messages.get(topic, ()):
            try:
                events = read_events(value)
            except MessageError:
                continue  # the runner dead-letters it as invalid: no outcome
            want |= {f"{name}/{e['id']}" for e in events for name, matcher in roots if matcher.matches(e)}
    chained = [(w.name, w.match.after, Matcher(w.match)) for w in config.workflows if w.match.after is not None]
    for result in results:
        data = result["data"]
        if data["status"] == "succeeded":
            want |= {f"{name}/{data['event_id']}" for name, after, matcher in chained
                     if after == data["workflow"] and matcher.matches(data["event"])}
    return want


def run_demo_workflows(console: Any, broker: Any, work: Path, route_messages: Mapping[str, Sequence[bytes]]) -> int:
    """Run the demo workflows to completion and print their outcomes and the manifest; the exit status."""
    config = demo_workflow_config(work, broker.bootstrap)
    results_topic = config.results_topic
    assert results_topic is not None  # workflows.toml names it: the demo reads the outcomes there
    broker.create_topics([results_topic, *(t for t in [config.dead_letter_topic] if t)])
    runner = WorkflowRunner(config)
    try:
        runner.connect()
        results, summary, missing = asyncio.run(_run(runner, broker.bootstrap, config, results_topic,
                                                          route_messages))
    except (ConfigError, DeliveryError) as e:
        console.print(f"fastev demo: workflow runner: {e}", markup=False)
        return 1
    finally:
        runner.close()
    console.print(f"fastev demo: workflows on {', '.join(config.topics)}: {runner_summary_line(summary)}",
                  soft_wrap=True)
    _print_outcomes(console, config, results)
    _print_manifest(console, work / MANIFEST)
    if missing:
        console.print(f"fastev demo: no outcome within {OUTCOMES_TIMEOUT_S:g} s for {', '.join(sorted(missing))}")
        return 1
    return 0


async def _run(runner: WorkflowRunner, bootstrap: str, config: WorkflowsConfig, results_topic: str,
               route_messages: Mapping[str, Sequence[bytes]]) -> tuple[list[dict[str, Any]], dict[str, Any], set[str]]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    from ..kafka.librdkafka_log import watched_client_config

    conf, _watch = watched_client_config({"bootstrap.servers": bootstrap, "group.id": "fastev-demo-results-reader",
                                          "enable.auto.commit": False, "log_level": 3})
    reader = Consumer(conf)
    results: dict[str, dict[str, Any]] = {}
    missing: set[str] = set()
    try:
        meta = reader.list_topics(results_topic, timeout=10).topics[results_topic]
        reader.assign([TopicPartition(results_topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        deadline = time.monotonic() + OUTCOMES_TIMEOUT_S
        while not running.done():
            for m in await asyncio.to_thread(reader.consume, 500, 0.2):
                value = m.value()
                if m.error() is None and value:
                    result = orjson.loads(value)
                    results[result["id"]] = result  # a replayed outcome has the same id
            missing = expected_outcomes(config, route_messages, list(results.values())) - results.keys()
            if not missing or time.monotonic() > deadline:
                break
    finally:
        stop.set()
        summary = await running  # raises what stopped the runner early
        reader.close()
    return list(results.values()), summary, missing


def _print_outcomes(console: Any, config: WorkflowsConfig, results: Sequence[Mapping[str, Any]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    order = {w.name: i for i, w in enumerate(config.workflows)}
    table = Table(title=f"workflow outcomes, read back from {config.results_topic!r}")
    for col in ("workflow", "path", "status", "attempts", "output"):
        table.add_column(col, overflow="fold")
    for r in sorted(results, key=lambda r: (r["subject"], order.get(r["data"]["workflow"], 0))):
        data = r["data"]
        status = data["status"] + (f" ({data['reason']})" if data["reason"] else "")
        output = orjson.dumps(data["output"]).decode() if data["output"] is not None else ""
        table.add_row(escape(data["workflow"]), escape(r["subject"]), status, str(data["attempts"]), escape(output))
    console.print(table)


def _print_manifest(console: Any, manifest: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{MANIFEST}, written by the manifest command (one line per new file)")
    for col in ("line", "id", "kind", "size", "path"):
        table.add_column(col, overflow="fold")
    lines = manifest.read_text().splitlines() if manifest.exists() else []
    for number, line in enumerate(lines, 1):
        table.add_row(str(number), *(escape(field) for field in line.split("\t")))
    console.print(table)
