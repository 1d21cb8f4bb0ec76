"""An unreachable broker: one line naming the server within a few seconds, not librdkafka's
flood of FAIL logs (~190 lines over 10 s before). `fastev run` with the demo pipeline and
`fastev serve`, each against a closed loopback port, on both publisher backends."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

BACKENDS = ["native", "reference"]
MAX_SECONDS = 8.0  # UNREACHABLE_AFTER_S (2 s) plus interpreter start-up, with margin for a busy machine


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting is refused, and nobody else takes it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


def run_fastev(args: list[str], cwd: Path, backend: str) -> tuple[subprocess.CompletedProcess[str], float]:
    import fastev

    src = str(Path(fastev.__file__).resolve().parents[1])  # this checkout, whatever the cwd
    env = {**os.environ, "FASTEV_NO_EXTENSIONS": "1" if backend == "reference" else "0",
           "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "fastev", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=env)
    return proc, time.monotonic() - start


def assert_one_clear_line(proc: subprocess.CompletedProcess[str], elapsed: float, port: int, command: str) -> None:
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1, proc.stderr  # a delivery failure (README: exit status of run/serve)
    assert len(lines) <= 2, proc.stderr
    assert not any("%3|" in ln or "FAIL|" in ln or "Traceback" in ln for ln in lines), proc.stderr
    assert f"fastev {command}: error: cannot reach the Kafka cluster at 127.0.0.1:{port}" in lines[-1]
    assert "Connection refused" in lines[-1]
    assert elapsed < MAX_SECONDS, f"{elapsed:.1f} s"


@pytest.mark.parametrize("backend", BACKENDS)
def test_fastev_run_says_once_which_server_it_cannot_reach(tmp_path: Path, closed_port: int, backend: str) -> None:
    demo = resources.files("fastev") / "demo"
    for item in demo.iterdir():
        if item.is_file():
            shutil.copyfile(str(item), tmp_path / item.name)
    config = tmp_path / "pipeline.toml"
    config.write_text(f'[kafka]\nbootstrap_servers = "127.0.0.1:{closed_port}"\n\n' + config.read_text())
    proc, elapsed = run_fastev(["run", "--config", str(config)], tmp_path, backend)
    assert_one_clear_line(proc, elapsed, closed_port, "run")


def test_fastev_serve_says_once_which_server_it_cannot_reach(tmp_path: Path, closed_port: int) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "jwt.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    config = tmp_path / "serve.toml"
    config.write_text(f"""
[kafka]
bootstrap_servers = "127.0.0.1:{closed_port}"

[[source]]
type = "stdin"
format = "dcache-billing"

[[route]]
name = "all"
topic = "events"

[sse]
listen = "127.0.0.1:0"
id_key_file = "sse-id.key"

[sse.auth]
mode = "scopes"
scope_base = "/"
jwt_algorithms = ["RS256"]
jwt_public_keys = ["jwt.pem"]
issuer = "https://issuer.example"
audience = "fastev"
""")
    proc, elapsed = run_fastev(["serve", "--config", str(config)], tmp_path, "reference")
    assert_one_clear_line(proc, elapsed, closed_port, "serve")


def test_librdkafka_logs_go_to_the_fastev_logger_at_debug(closed_port: int, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from fastev.errors import DeliveryError
    from fastev.kafka import KafkaPublisher

    caplog.set_level(logging.DEBUG, logger="fastev.kafka.librdkafka")
    for native in ([False] if os.environ.get("FASTEV_NO_EXTENSIONS") == "1" else [False, True]):
        caplog.clear()
        publisher = KafkaPublisher({"bootstrap.servers": f"127.0.0.1:{closed_port}"}, native=native)
        with pytest.raises(DeliveryError, match=f"cannot reach the Kafka cluster at 127.0.0.1:{closed_port}"):
            publisher.ensure_topic("t")
        records = [r for r in caplog.records if r.name == "fastev.kafka.librdkafka"]
        assert records, f"native={native}: no librdkafka log line reached the logger"
        assert all(r.levelno == logging.DEBUG for r in records)
        assert len(records) <= 21  # the rate limit (BURST lines, then one summary per window)
