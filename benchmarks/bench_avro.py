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
from fastev.event import schema

try:
    from fastev._core import avro as native
except ImportError:  # benchmarks still run the peers
    native = None  # type: ignore[assignment]

EVENT: dict[str, Any] = {
    "id": "5f0c8a7e2b1d4c3fa9e8d7c6b5a49382",
    "source": "DCACHE_BILLING",
    "kind": "DOWNLOAD",
    "raw_type": "transfer",
    "time_us": 1753714391869000,
    "path": "/pnfs/example.org/data/atlas/mc23/EVNT.37712345._000123.pool.root.1",
    "old_path": None,
    "is_dir": False,
    "size": 3_971_234_567,
    "bytes": 3_971_234_567,
    "duration_ms": 12_345,
    "status": 0,
    "status_msg": None,
    "file_id": "0000A1B2C3D4E5F60718293A4B5C6D7E8F90",
    "user": "atlprd",
    "uid": 41000,
    "gid": 1307,
    "groups": ["/atlas/Role=production", "/atlas"],
    "client": "192.0.2.10",
    "protocol": "Xrootd-5.0",
    "system": "pool-d01-r1@pool-d01Domain",
    "storage_class": "atlas:MC@osm",
    "attrs": {"session": "door:Xrootd-dcache-door@xrootd-Domain:AAYpIq8E1hg",
              "initiator": "door:Xrootd-dcache-door@xrootd-Domain:1753714379534-12345",
              "transferTag": "", "cellType": "pool"},
}
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
