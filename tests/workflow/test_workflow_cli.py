"""``fastev workflow check|run`` as a user types them: results on stdout, mistakes as one line and exit 2."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import fastev
from fastev.kafka.broker import free_port
from fastev.paths import covers

from ..conftest import SAMPLES
from .helpers import REPO


def fastev_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastev", *args], cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout, env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin",
                                                **_native_env()})


def _native_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k.startswith("FASTEV_")}


def config(tmp: Path, workflows: str, kafka: str = "") -> Path:
    p = tmp / "wf.toml"
    p.write_text(f'{kafka}[workflows]\ntopics = ["atlas-events"]\nresults_topic = "results"\n{workflows}')
    return p


CHECKSUM = """[[workflow]]
name = "checksum"
[workflow.match]
paths = ["{prefix}"]
[workflow.action]
type = "command"
argv = ["adler32-tool", "--json", "{{path}}"]
[[workflow]]
name = "notify"
[workflow.match]
after = "checksum"
[workflow.action]
type = "webhook"
url = "https://hooks.example.org/placed/{{name}}?sum={{output.adler32}}"
"""


def test_check_shows_what_each_event_would_trigger(tmp_path: Path) -> None:
    raw = SAMPLES / "dcache-billing.jsonl"
    events = fastev.decode(raw.read_bytes(), "dcache-billing").events
    prefix = events[0].path.rsplit("/", 1)[0]
    cfg = config(tmp_path, CHECKSUM.format(prefix=prefix))
    done = fastev_cli("workflow", "check", "--config", str(cfg), "--source", "dcache-billing", str(raw))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{cfg}: OK: 2 workflow(s): checksum (command), notify (webhook, after checksum)"
    blocks: dict[str, list[str]] = {}
    current = ""
    for line in lines[1:]:
        if line.startswith("  "):
            blocks[current].append(line.strip())
        else:
            current = line
            blocks[current] = []
    assert list(blocks) == [f"{e.id} {e.kind} {e.path}" for e in events]
    for e in events:
        shown = blocks[f"{e.id} {e.kind} {e.path}"]
        if covers(prefix, e.path):
            name = e.path.rsplit("/", 1)[1]
            assert shown == [f"-> checksum: argv {shlex.join(['adler32-tool', '--json', e.path])}",
                             f"-> notify (after checksum succeeds): POST https://hooks.example.org/placed/"
                             f"{name}?sum={{output.adler32}} (structured)"]
        else:
            assert shown == ["(no workflow)"]
    assert sum(covers(prefix, e.path) for e in events) >= 1


@pytest.mark.parametrize(("body", "key"), [
    ('[[workflow]]\nname = "a"\n[workflow.action]\ntype = "command"\nargv = ["x"]\ntimeot_s = 5\n', "timeot_s"),
    ('[[workflow]]\nname = "a"\n[workflow.match]\nnames = ["[a-"]\n[workflow.action]\ntype = "command"\n'
     'argv = ["x"]\n', "names[0]"),
    ('[[workflow]]\nname = "a"\n[workflow.action]\ntype = "command"\nargv = ["x", "{pth}"]\n', "argv[1]"),
    ('[[workflow]]\nname = "a"\n[workflow.action]\ntype = "command"\n', "argv"),
    ('[[workflow]]\nname = "a"\n[workflow.action]\ntype = "webhook"\n', "url"),
    ('[[workflow]]\nname = "a"\n[workflow.action]\ntype = "command"\nargv = ["x"]\n[workflow.delivery]\n'
     'ordering = "random"\n', "ordering"),
])
@pytest.mark.parametrize("command", ["check", "run"])
def test_config_mistakes_are_one_line_and_exit_2(tmp_path: Path, body: str, key: str, command: str) -> None:
    cfg = config(tmp_path, body, kafka=f'[kafka]\nbootstrap_servers = "127.0.0.1:{free_port()}"\n')
    done = fastev_cli("workflow", command, "--config", str(cfg))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastev workflow: error: ") and key in lines[0], done.stderr
    assert done.stdout == ""


def test_run_needs_a_broker_address(tmp_path: Path) -> None:
    cfg = config(tmp_path, '[[workflow]]\nname = "a"\n[workflow.action]\ntype = "command"\nargv = ["x"]\n')
    done = fastev_cli("workflow", "run", "--config", str(cfg))
    assert done.returncode == 2 and "kafka.bootstrap_servers" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unreachable_broker_is_one_line_and_exit_1(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(tmp_path, '[[workflow]]\nname = "a"\n[workflow.action]\ntype = "command"\nargv = ["x"]\n',
                 kafka=f'[kafka]\nbootstrap_servers = "127.0.0.1:{port}"\n')
    done = fastev_cli("workflow", "run", "--config", str(cfg), timeout=60)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], done.stderr


def test_check_names_an_unreadable_source(tmp_path: Path) -> None:
    cfg = config(tmp_path, '[[workflow]]\nname = "a"\n[workflow.action]\ntype = "command"\nargv = ["x"]\n')
    done = fastev_cli("workflow", "check", "--config", str(cfg), "--source", "s3", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 2 and "nope.jsonl" in done.stderr
    done = fastev_cli("workflow", "check", "--config", str(cfg), "--source", "bogus", "x")
    assert done.returncode == 2 and "unknown format 'bogus'" in done.stderr
