"""`fastev run` reading a Kafka source from an unreachable cluster: one line naming its servers within a
few seconds, exit status 1, and librdkafka's log at DEBUG through fastev's logging (before: the
consumer printed librdkafka's FAIL lines to stderr until stopped). The routes feed SSE only, so the
consumer is the only Kafka client: nothing else can report the cluster first."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.errors import DeliveryError
from fastev.pipeline.config import SourceConfig
from fastev.pipeline.kafka_source import KafkaSource

from ..kafka.test_unreachable_broker import BACKENDS, assert_one_clear_line, closed_port, run_fastev  # noqa: F401
from .conftest import broker, fastev_run, finish, new_topic, write_config  # noqa: F401 - fixtures

SSE_ONLY = """
[kafka]
bootstrap_servers = "127.0.0.1:{port}"

[[source]]
type = "kafka"
format = "dcache-billing"
topics = ["billing"]
group = "fastev"

[[route]]
name = "all"

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
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_kafka_source_says_once_which_server_it_cannot_reach(tmp_path: Path, closed_port: int,  # noqa: F811
                                                               backend: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "jwt.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    config = tmp_path / "run.toml"
    config.write_text(SSE_ONLY.format(port=closed_port))
    proc, elapsed = run_fastev(["run", "--config", str(config), "--no-progress"], tmp_path, backend)
    # stderr may start with the SSE address line; the rest is the one line naming the servers
    assert_one_clear_line(proc, elapsed, closed_port, "run")
    assert "looking up topic 'billing'" in proc.stderr.splitlines()[-1]


def test_the_consumer_logs_through_the_fastev_logger_at_debug(closed_port: int,  # noqa: F811
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="fastev.kafka.librdkafka")
    config = SourceConfig(name="k", type="kafka", format="dcache-billing", topics=("billing",), group="fastev")
    source = KafkaSource(config, f"127.0.0.1:{closed_port}", {})
    try:
        with pytest.raises(DeliveryError, match=f"cannot reach the Kafka cluster at 127.0.0.1:{closed_port}"):
            source.check_topics()
    finally:
        source.close()
    records = [r for r in caplog.records if r.name == "fastev.kafka.librdkafka"]
    assert records, "no librdkafka log line reached the logger"
    assert all(r.levelno == logging.DEBUG for r in records)


def test_a_source_topic_that_does_not_exist_is_one_line_before_anything_is_read(
        broker: Any, new_topic: Any, fastev_run: Any, tmp_path: Path) -> None:  # noqa: F811
    missing, out = new_topic(create=False), new_topic()
    config = write_config(tmp_path / "run.toml", bootstrap=broker.bootstrap, routes=[{"name": "all", "topic": out}],
                          sources=[{"type": "kafka", "format": "dcache-billing", "topics": [missing],
                                    "group": "g"}])
    code, _, err = finish(fastev_run(config))
    assert code == 1, err
    assert err.splitlines()[-1] == (f"fastev run: error: source 'kafka-0': topic {missing!r} does not exist on "
                                    f"{broker.bootstrap} (Broker: Unknown topic or partition)"), err
    assert "Traceback" not in err and "%3|" not in err
