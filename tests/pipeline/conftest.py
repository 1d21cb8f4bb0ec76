"""Pipeline tests run `fastev run` against the real broker of tests/kafka (never mocked, never skipped)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from fastev.bench.records import stream
from fastev.kafka import EmbeddedBroker

from ..kafka.conftest import broker, consume, new_topic, read_avro  # noqa: F401 - fixtures re-exported

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}


def run_command() -> list[str]:
    """`fastev run` when the CLI has it, else the same command through its module."""
    from fastev.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    if "run" in getattr(sub, "choices", {}):
        return [sys.executable, "-m", "fastev", "run"]
    return [sys.executable, "-m", "fastev.commands.run_cmd"]


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return str(v)


def toml_table(header: str, table: dict[str, Any]) -> str:
    lines = [header]
    lines += [f"{toml_value(k) if '.' in k else k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def write_config(path: Path, *, bootstrap: str | None, sources: Sequence[dict[str, Any]],
                 routes: Sequence[dict[str, Any]], dead_letter: str | None = None, acl: str | None = None,
                 producer: dict[str, Any] | None = None, consumer: dict[str, Any] | None = None,
                 extra: str = "") -> Path:
    parts = [toml_table("[kafka]", {"bootstrap_servers": bootstrap} if bootstrap else {})]
    if producer:
        parts.append(toml_table("[kafka.producer]", producer))
    if consumer:
        parts.append(toml_table("[kafka.consumer]", consumer))
    parts += [toml_table("[[source]]", s) for s in sources]
    if acl:
        parts.append(toml_table("[acl]", {"file": acl}))
    parts += [toml_table("[[route]]", r) for r in routes]
    if dead_letter:
        parts.append(toml_table("[dead_letter]", {"topic": dead_letter}))
    path.write_text("\n".join(parts) + extra, "utf-8")
    return path


@pytest.fixture()
def fastev_run() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """fastev_run(config, *args) -> a running `fastev run` subprocess (stopped at teardown if still running)."""
    procs: list[subprocess.Popen[str]] = []

    def start(config: Path, *args: str) -> subprocess.Popen[str]:
        p = subprocess.Popen([*run_command(), "--config", str(config), "--no-progress", *args], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def finish(p: subprocess.Popen[str], timeout: float = 90) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def wait_for(cond: Callable[[], bool], timeout: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


@pytest.fixture(scope="session")
def big_billing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """100k dCache billing records (~97 MB; 25k on the slower pure-Python reference) and their ids, in order."""
    from fastev import decode

    from ..conftest import NATIVE_EXPECTED

    data = stream("dcache-billing", 100_000 if NATIVE_EXPECTED else 25_000, seed=11)
    path = tmp_path_factory.mktemp("big") / "billing.jsonl"
    path.write_bytes(data)
    res = decode(data, "dcache-billing")
    assert not res.errors
    return path, [e.id for e in res.events]


def header(msg: Any, name: str) -> str | None:
    for k, v in msg.headers() or []:
        if k == name:
            return v.decode() if isinstance(v, bytes) else v
    return None


__all__ = ("broker", "consume", "new_topic", "read_avro", "write_config", "finish", "wait_for", "header",
           "EmbeddedBroker", "run_command")
