"""Every subcommand, fed the mistakes a new user makes: one clear line, the documented exit status, no traceback.

The subcommands are listed from the CLI's own parser, so a new one fails
``test_every_subcommand_has_mistakes`` until it is given rows in MISTAKES.
Exit statuses (fastev.cli): 1 delivery failed, 2 usage or configuration error.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastev import cli
from fastev.commands import route_cmd
from fastev.demo import demo_dir

# The fastev under test, also when a test runs it from another directory (PYTHONPATH=src is relative).
SRC = str(Path(cli.__file__).resolve().parents[1])
MAX_STDERR_LINES = 2  # one error line (and at most one line of context before it)


def fastev(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
           timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastev", *args], capture_output=True, text=True,
                          errors="replace", cwd=cwd, timeout=timeout, check=False,
                          env={**os.environ, "PYTHONPATH": SRC, **(env or {})})


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every runnable command path (``("acl", "check")``, ``("run",)``, ...) of the parser."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix
        return
    for action in subs:
        for name, sub in action.choices.items():
            yield from leaf_commands(sub, (*prefix, name))


def leaf_parsers(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
                 ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from leaf_parsers(sub, (*prefix, name))


LEAVES = sorted(leaf_commands(cli.build_parser()))
PIPELINE = (demo_dir() / "pipeline.toml").read_text("utf-8")
TOKEN = "a-service-token"
WORKFLOWS = ('[workflows]\ntopics = ["atlas-events"]\n[[workflow]]\nname = "w"\n[workflow.action]\n'
             'type = "command"\nargv = ["true", "{path}"]\ntimeout_s = 5\n')
SSE = '[sse]\nlisten = "127.0.0.1:{port}"\n[sse.auth]\nmode = "acl"\ntokens_file = "tokens.txt"\n'


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A loopback port another process (this one) listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture(scope="module")
def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, busy_port: int, closed_port: int) -> Path:
    """The demo's files plus one file per mistake."""
    d = tmp_path_factory.mktemp("mistakes")
    for f in demo_dir().iterdir():
        if f.suffix in (".jsonl", ".sse", ".json", ".toml"):
            shutil.copy(f, d / f.name)
    (d / "tokens.txt").write_text(f"{hashlib.sha256(TOKEN.encode()).hexdigest()} user:alice\n")
    (d / "a-directory.toml").mkdir()
    (d / "latin1.toml").write_bytes(b"# caf\xe9\n[acl]\nfile = \"acl.toml\"\n")
    (d / "latin1.jsonl").write_bytes(b'{"caf\xe9": 1}\n')
    (d / "invalid.toml").write_text("[[route]\nname = \"x\"\n")
    (d / "routes-typo.toml").write_text(PIPELINE.replace("[[route]]", "[[routes]]"))
    (d / "acl-unknown-key.toml").write_text('[[allow]]\nprincipals = ["*"]\npaths = ["/"]\ncolour = "red"\n')
    (d / "missing-acl.toml").write_text(PIPELINE.replace('file = "acl.toml"', 'file = "no-such-acl.toml"'))
    (d / "invalid-acl.toml").write_text(PIPELINE.replace('file = "acl.toml"', 'file = "invalid.toml"'))
    (d / "missing-input.toml").write_text(PIPELINE.replace('"s3.jsonl"', '"no-such-input.jsonl"'))
    (d / "busy-metrics.toml").write_text(PIPELINE + f'[metrics]\nlisten = "127.0.0.1:{busy_port}"\n')
    (d / "busy-sse.toml").write_text(PIPELINE + SSE.format(port=busy_port))
    unreachable = f'[kafka]\nbootstrap_servers = "127.0.0.1:{closed_port}"\n'
    (d / "unreachable.toml").write_text(PIPELINE + unreachable)
    (d / "unreachable-sse.toml").write_text(PIPELINE + unreachable + SSE.format(port=0))
    (d / "unreachable-busy-sse.toml").write_text(PIPELINE + unreachable + SSE.format(port=busy_port))
    (d / "wf-unknown-key.toml").write_text(WORKFLOWS.replace("timeout_s", "timeot_s"))
    (d / "wf-no-broker.toml").write_text(WORKFLOWS)
    (d / "wf-busy-metrics.toml").write_text(unreachable + WORKFLOWS + f'[metrics]\nlisten = "127.0.0.1:{busy_port}"\n')
    (d / "wf-unreachable.toml").write_text(unreachable + WORKFLOWS)
    return d


# (command, arguments, exit status). Names refer to files made by the `work` fixture; {busy} is a port in use.
CONFIG_MISTAKES = [
    ("no-such.toml", 2), ("a-directory.toml", 2), ("latin1.toml", 2), ("invalid.toml", 2),
    ("routes-typo.toml", 2), ("missing-acl.toml", 2), ("invalid-acl.toml", 2),
]
MISTAKES: list[tuple[tuple[str, ...], list[str], int]] = [
    *[(("run",), ["--config", f], rc) for f, rc in CONFIG_MISTAKES],
    (("run",), ["--config", "missing-input.toml"], 2),
    (("run",), ["--config", "busy-metrics.toml"], 2),
    (("run",), ["--config", "busy-sse.toml"], 2),
    (("run",), ["--config", "pipeline.toml", "--summary-json", "a-directory.toml"], 2),
    (("run",), ["--config", "unreachable.toml"], 1),
    (("run",), [], 2),
    *[(("serve",), ["--config", f], rc) for f, rc in CONFIG_MISTAKES],
    (("serve",), ["--config", "pipeline.toml"], 2),  # no [sse] section
    (("serve",), ["--config", "unreachable-sse.toml", "--topic", "cms-events"], 1),
    # a busy port is a config error, found before Kafka is asked (here it could not even be reached)
    (("serve",), ["--config", "unreachable-busy-sse.toml", "--topic", "cms-events"], 2),
    *[(("route",), ["--config", f, "--source", "s3", "s3.jsonl"], rc) for f, rc in CONFIG_MISTAKES],
    (("route",), ["--config", "pipeline.toml", "--source", "s3", "no-such.jsonl"], 2),
    (("route",), ["--config", "pipeline.toml", "--source", "s3", "a-directory.toml"], 2),
    (("route",), ["--config", "pipeline.toml", "--source", "s3", "--errors", "a-directory.toml", "s3.jsonl"], 2),
    (("route",), ["--config", "pipeline.toml", "--source", "dcache-inotify", "--inotify-watches",
                  "latin1.toml", "dcache-inotify.sse"], 2),
    (("route",), ["--config", "pipeline.toml", "--source", "nope"], 2),
    (("decode",), ["--source", "s3", "no-such.jsonl"], 2),
    (("decode",), ["--source", "s3", "a-directory.toml"], 2),
    (("decode",), ["--source", "s3", "--errors", "a-directory.toml", "s3.jsonl"], 2),
    (("decode",), ["--source", "dcache-inotify", "--inotify-watches", "latin1.toml", "dcache-inotify.sse"], 2),
    (("decode",), ["--source", "dcache-inotify", "--inotify-watches", "a-directory.toml"], 2),
    (("decode",), ["--source", "s3", "--max-record-bytes", "lots"], 2),
    *[(("acl", "check"), ["--acl", f, "--path", "/a", "--kind", "UPLOAD"], 2)
      for f in ("no-such.toml", "a-directory.toml", "latin1.toml", "invalid.toml", "acl-unknown-key.toml")],
    (("acl", "check"), ["--acl", "acl.toml", "--path", "relative/x"], 2),
    (("acl", "check"), ["--acl", "acl.toml", "--path", "/a", "--uid", "-1"], 2),
    (("acl", "check"), ["--acl", "acl.toml", "--path", "/a", "--kind", "EXPLODE"], 2),
    *[(("acl", "kafka-bindings"), ["--acl", f, "--config", "pipeline.toml"], 2)
      for f in ("no-such.toml", "a-directory.toml", "latin1.toml", "invalid.toml", "acl-unknown-key.toml")],
    *[(("acl", "kafka-bindings"), ["--acl", "acl.toml", "--config", f], rc) for f, rc in CONFIG_MISTAKES],
    (("acl", "kafka-bindings"), ["--acl", "acl.toml", "--config", "pipeline.toml",
                                 "--dead-letter-principal", "nobody"], 2),
    (("broker",), ["--port", "{busy}"], 2),
    (("broker",), ["--port", "70000"], 2),
    (("broker",), ["--port", "0", "--partitions", "0"], 2),
    (("bench", "codec"), ["--records", "0"], 2),
    (("bench", "codec"), ["--out", "pipeline.toml"], 2),
    (("bench", "pipeline"), ["--rates", "1000,fast"], 2),
    (("bench", "pipeline"), ["--seconds", "-3"], 2),
    (("bench", "sse"), ["--clients", "0"], 2),
    (("bench", "sse"), ["--coalesce-ms", "-1"], 2),
    (("bench", "memory"), ["--gb", "-1"], 2),
    (("bench", "memory"), ["--out", "pipeline.toml"], 2),
    (("demo",), ["--records", "5"], 2),
    *[(("workflow", "run"), ["--config", f], 2) for f in ("no-such.toml", "a-directory.toml", "latin1.toml",
                                                          "invalid.toml", "wf-unknown-key.toml", "wf-no-broker.toml",
                                                          "wf-busy-metrics.toml")],
    (("workflow", "run"), ["--config", "wf-unreachable.toml"], 1),
    (("workflow", "run"), [], 2),
    *[(("workflow", "check"), ["--config", f], 2) for f in ("no-such.toml", "a-directory.toml", "latin1.toml",
                                                            "invalid.toml", "wf-unknown-key.toml")],
    (("workflow", "check"), ["--config", "wf-no-broker.toml", "--source", "s3", "no-such-input.jsonl"], 2),
    (("workflow", "check"), ["--config", "wf-no-broker.toml", "--source", "bogus", "s3.jsonl"], 2),
    (("workflow", "check"), ["--config", "wf-no-broker.toml", "--source"], 2),
    ((), [], 2),
    ((), ["frobnicate"], 2),
    (("acl",), [], 2),
]


def test_every_subcommand_has_mistakes() -> None:
    covered = {command for command, _, _ in MISTAKES}
    assert set(LEAVES) - covered == set(), "give every subcommand rows in MISTAKES"


def check_clean(r: subprocess.CompletedProcess[str], status: int) -> None:
    for stream in (r.stdout, r.stderr):
        assert "Traceback" not in stream, stream
        assert "\x1b[" not in stream, stream  # no raw terminal escapes (Tansu colours its log)
        assert "panicked" not in stream, stream
    lines = [line for line in r.stderr.splitlines() if line.strip()]  # librdkafka's own log included
    assert r.returncode == status, r.stderr
    assert 1 <= len(lines) <= MAX_STDERR_LINES, r.stderr
    assert "error" in lines[-1], r.stderr


@pytest.mark.parametrize(("command", "args", "status"), MISTAKES,
                         ids=[f"{' '.join(c) or 'fastev'} {' '.join(a)}" for c, a, _ in MISTAKES])
def test_mistake(work: Path, busy_port: int, command: tuple[str, ...], args: list[str], status: int) -> None:
    argv = [*command, *(a.replace("{busy}", str(busy_port)) for a in args)]
    check_clean(fastev(*argv, cwd=work), status)


LEAF_PARSERS = sorted(leaf_parsers(cli.build_parser()), key=lambda x: x[0])


@pytest.mark.parametrize(("command", "parser"), LEAF_PARSERS, ids=[" ".join(c) for c, _ in LEAF_PARSERS])
def test_every_typed_flag_refuses_garbage(command: tuple[str, ...], parser: argparse.ArgumentParser,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Derived from the parser, so a new flag is covered: a non-value for each typed or choice flag is exit 2."""
    real_build = cli.build_parser

    def build_refusing_to_run() -> argparse.ArgumentParser:
        built = real_build()  # in-process: a flag that accepts garbage must not start a benchmark or a broker
        for _, leaf in leaf_parsers(built):
            leaf.set_defaults(run=lambda args: pytest.fail(f"ran with garbage: {args}"))
        return built

    monkeypatch.setattr(cli, "build_parser", build_refusing_to_run)
    flags = [a for a in parser._actions if a.option_strings and (a.type is not None or a.choices)
             and a.nargs in (None, 1)]
    for action in flags:
        assert cli.main([*command, action.option_strings[-1], "\x00garbage"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.count("\n") == 1 and "error" in err


def test_config_errors_name_the_key_and_suggest(work: Path) -> None:
    r = fastev("run", "--config", "routes-typo.toml", cwd=work)
    assert r.returncode == 2
    assert "unknown key 'routes'; did you mean 'route'?" in r.stderr
    r = fastev("route", "--config", "routes-typo.toml", "--source", "s3", "s3.jsonl", cwd=work)
    assert r.returncode == 2 and "did you mean 'route'?" in r.stderr and r.stdout == ""
    r = fastev("run", "--config", "latin1.toml", cwd=work)
    assert r.stderr.strip() == "fastev run: error: latin1.toml: not valid TOML: not UTF-8 (byte 5)"


def test_busy_ports_name_the_key(work: Path, busy_port: int) -> None:
    r = fastev("run", "--config", "busy-metrics.toml", cwd=work)
    assert f"metrics.listen: cannot listen on 127.0.0.1:{busy_port}" in r.stderr
    assert "embedded broker" not in r.stderr  # found before anything was started or connected
    r = fastev("broker", "--port", str(busy_port), cwd=work)
    assert r.stderr.strip() == (f"fastev broker: error: 127.0.0.1:{busy_port} is already in use by another "
                                "process (choose another port, or 0 for a free one)")
    assert r.stdout == ""  # never the bootstrap line of a broker that is not ours


def test_unexpected_errors_are_one_line_unless_asked(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A bug reaching the top level: one line and exit 70; FASTEV_TRACEBACK=1 lets developers see it."""
    def broken(args: argparse.Namespace) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr(route_cmd, "run", broken)
    argv = ["route", "--config", "x.toml", "--source", "s3"]
    monkeypatch.delenv("FASTEV_TRACEBACK", raising=False)
    assert cli.main(argv) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "KeyError" in err and "FASTEV_TRACEBACK=1" in err
    monkeypatch.setenv("FASTEV_TRACEBACK", "1")
    with pytest.raises(KeyError, match="a bug"):
        cli.main(argv)
