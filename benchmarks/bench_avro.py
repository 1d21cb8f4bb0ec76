"""Avro encoding of one dCache transfer event: fastev native vs reference vs fastavro.

Run: PYTHONPATH=src python -m pytest benchmarks/bench_avro.py --benchmark-only
"""
from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import fastavro
import pytest

from fastev._ref import avro as reference
from fastev.bench.records import sample_transfer_event
from fastev.event import schema

try:
    from fastev._core import avro as native
except ImportError:  # benchmarks still run the peers
    native = None  # type: ignore[assignment]

EVENT: dict[str, Any] = sample_transfer_event()
SYNC = bytes(16)
BLOCK = 1000


def _plain_schema() -> Any:
    s = schema()
    s["fields"][4]["type"] = "long"  # time_us as the raw long, as fastev hands it over
    return fastavro.parse_schema(s)


PARSED = _plain_schema()


def _fastavro_encode(d: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, PARSED, d)
    return out.getvalue()


ENCODERS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "reference": reference.encode_event,
    "fastavro": _fastavro_encode,
}
if native is not None:
    ENCODERS["native"] = native.encode_event


@pytest.mark.benchmark(group="encode-one-event")
@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encode_event(benchmark: Any, name: str) -> None:
    encode = ENCODERS[name]
    assert benchmark(encode, EVENT) == reference.encode_event(EVENT)


def _ocf_native() -> bytes:
    assert native is not None
    out = io.BytesIO()
    with native.OcfWriter(out, "deflate", SYNC, BLOCK) as writer:
        for _ in range(BLOCK):
            writer.write_event(EVENT)
    return out.getvalue()


def _ocf_reference() -> bytes:
    out = io.BytesIO()
    with reference.OcfWriter(out, "deflate", SYNC, BLOCK) as writer:
        for _ in range(BLOCK):
            writer.write_event(EVENT)
    return out.getvalue()


def _ocf_fastavro() -> bytes:
    out = io.BytesIO()
    fastavro.writer(out, PARSED, [EVENT] * BLOCK, codec="deflate", sync_interval=1 << 30)
    return out.getvalue()


OCF_WRITERS: dict[str, Callable[[], bytes]] = {"reference": _ocf_reference, "fastavro": _ocf_fastavro}
if native is not None:
    OCF_WRITERS["native"] = _ocf_native


@pytest.mark.benchmark(group="ocf-deflate-1000-events")
@pytest.mark.parametrize("name", sorted(OCF_WRITERS))
def test_ocf_deflate_block(benchmark: Any, name: str) -> None:
    data = benchmark(OCF_WRITERS[name])
    assert len(list(fastavro.reader(io.BytesIO(data)))) == BLOCK
