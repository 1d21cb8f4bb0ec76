"""Object Container Files: same bytes from both writers, readable by fastavro.reader."""
from __future__ import annotations

import io
import json
import zlib
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastev._ref import avro as reference
from fastev._ref.avro import SCHEMA_JSON
from fastev.event import schema

from .impls import native
from .strategies import DATETIME_MAX_US, DATETIME_MIN_US, events, transfer_event

SYNC = bytes(range(16))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CODECS = ("null", "deflate")


def read_ocf(data: bytes) -> tuple[dict[str, str], list[dict[str, Any]]]:
    reader = fastavro.reader(io.BytesIO(data))
    records = []
    for record in reader:
        # the file's schema keeps logicalType timestamp-micros: fastavro hands back datetimes
        record["time_us"] = (record["time_us"] - EPOCH) // timedelta(microseconds=1)
        records.append(record)
    return reader.metadata, records


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(st.integers(DATETIME_MIN_US, DATETIME_MAX_US)), max_size=12),
       st.sampled_from(CODECS), st.integers(1, 5))
def test_ocf_same_bytes_and_fastavro_reads_back(evs: list[dict[str, Any]], codec: str, block: int) -> None:
    payloads = [reference.encode_event(ev) for ev in evs]
    expected = reference.ocf_bytes(payloads, codec, SYNC, block)
    n = native()
    if n is not None:
        assert n.ocf_bytes(payloads, codec, SYNC, block) == expected
        out = io.BytesIO()
        with n.OcfWriter(out, codec, SYNC, block) as writer:
            writer.write_events(evs)
        assert out.getvalue() == expected
    metadata, records = read_ocf(expected)
    assert metadata["avro.codec"] == codec
    assert records == evs


@pytest.mark.parametrize("codec", CODECS)
def test_metadata_and_layout(avro: ModuleType, codec: str) -> None:
    ev = transfer_event()
    out = io.BytesIO()
    writer = avro.OcfWriter(out, codec=codec, sync_marker=SYNC, block_events=2)
    assert writer.sync_marker == SYNC and writer.codec == codec
    for _ in range(5):
        writer.write_event(ev)
    assert writer.pending == 1  # two full blocks went out already
    writer.close()
    data = out.getvalue()
    assert data.startswith(b"Obj\x01")
    assert data.endswith(SYNC)
    assert data.count(SYNC) == 4  # header + 3 blocks (2, 2, 1 events)
    reader = fastavro.reader(io.BytesIO(data))
    assert reader.metadata["avro.codec"] == codec
    assert json.loads(reader.metadata["avro.schema"]) == schema()
    assert reader.metadata["avro.schema"] == SCHEMA_JSON
    assert len(list(reader)) == 5


def test_deflate_block_is_raw_deflate(avro: ModuleType) -> None:
    payload = avro.encode_event(transfer_event())
    data = avro.ocf_bytes([payload] * 3, "deflate", SYNC)
    body = data[data.index(SYNC) + 16:]
    assert body[0] == 6  # count 3, zig-zag
    size = 0
    shift = 0
    pos = 1
    while True:  # the block's byte size, a varint
        byte = body[pos]
        size |= (byte & 0x7F) << shift
        shift += 7
        pos += 1
        if byte < 0x80:
            break
    block = body[pos:pos + (size >> 1)]
    assert zlib.decompress(block, -15) == payload * 3
    assert body[pos + (size >> 1):] == SYNC


def test_empty_file_is_valid(avro: ModuleType) -> None:
    data = avro.ocf_bytes([], "deflate", SYNC)
    assert data.count(SYNC) == 1
    assert read_ocf(data)[1] == []


def test_random_sync_marker(avro: ModuleType) -> None:
    a, b = avro.OcfWriter(io.BytesIO()), avro.OcfWriter(io.BytesIO())
    assert len(a.sync_marker) == 16 and a.sync_marker != b.sync_marker


def test_flush_block_without_events_writes_nothing(avro: ModuleType) -> None:
    out = io.BytesIO()
    writer = avro.OcfWriter(out, sync_marker=SYNC)
    size = len(out.getvalue())
    writer.flush_block()
    assert len(out.getvalue()) == size


def test_bad_event_leaves_the_block_untouched(avro: ModuleType) -> None:
    out = io.BytesIO()
    with avro.OcfWriter(out, sync_marker=SYNC) as writer:
        writer.write_event(transfer_event())
        with pytest.raises(ValueError, match="^attrs"):
            writer.write_event(dict(transfer_event(), attrs={"k": None}))
        assert writer.pending == 1
    assert read_ocf(out.getvalue())[1] == [transfer_event()]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"codec": "snappy"}, "^codec: 'snappy' is not one of"),
    ({"sync_marker": b"short"}, "^sync_marker: expected 16 bytes, got 5$"),
    ({"block_events": 0}, "^block_events: 0 is not positive$"),
])
def test_bad_arguments(avro: ModuleType, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        avro.OcfWriter(io.BytesIO(), **kwargs)


def test_closed_writer_refuses_events(avro: ModuleType) -> None:
    writer = avro.OcfWriter(io.BytesIO())
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        writer.write_encoded(b"")
