"""No production code path lets librdkafka print to stderr: every confluent-kafka client made in
src/ gets a config with its log routed through fastev's logging (``watched_client_config``, or the
publisher's ``ConfluentLogger``); the native producer drains its log ring into the same logger."""
from __future__ import annotations

import ast
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException

import fastev
from fastev.kafka import consume_all

SRC = Path(fastev.__file__).resolve().parent
CLIENTS = {"Consumer", "Producer", "AdminClient"}
ROUTING = ("watched_client_config", "ConfluentLogger")
# The native producer is not a confluent-kafka client: its log goes through a ring that
# NativeKafkaPublisher drains into RateLimitedLog (tests/kafka/test_unreachable_broker.py).
NATIVE = {("kafka/native_publisher.py", "kproducer.Producer")}


def client_calls() -> Iterator[tuple[str, str, str]]:
    """(file, callee, source of the enclosing function) of every client constructor call in src/fastev."""
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text("utf-8")
        tree = ast.parse(text)
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Call):
                    callee = ast.unparse(node.func)
                    if callee.rsplit(".", 1)[-1] in CLIENTS:
                        yield str(path.relative_to(SRC)), callee, ast.get_source_segment(text, fn) or ""


def test_every_client_logs_through_fastev_logging() -> None:
    calls = list(client_calls())
    assert len(calls) >= 6, calls  # the check sees the clients (publisher, sources, serve, broker, bench)
    unrouted = [(f, callee) for f, callee, body in calls
                if (f, callee) not in NATIVE and not any(r in body for r in ROUTING)]
    assert not unrouted, f"clients whose librdkafka log goes to stderr: {unrouted}"


@pytest.fixture
def closed_port() -> Iterator[int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


def test_consume_all_from_an_unreachable_broker_prints_nothing(closed_port: int, capfd: pytest.CaptureFixture[str],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """consume_all (fastev demo reads its topics back with it): before, librdkafka's FAIL lines
    went straight to file descriptor 2."""
    caplog.set_level(logging.DEBUG, logger="fastev.kafka.librdkafka")
    with pytest.raises(KafkaException, match="_TRANSPORT|_TIMED_OUT"):  # list_topics' own error
        consume_all(f"127.0.0.1:{closed_port}", ["t"], timeout=1)
    _, err = capfd.readouterr()
    assert "FAIL" not in err and "%3|" not in err, err
    records = [r for r in caplog.records if r.name == "fastev.kafka.librdkafka"]
    assert records and all(r.levelno == logging.DEBUG for r in records)
