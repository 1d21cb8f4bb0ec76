"""Avro writer for StorageEvent, pure Python (the oracle for fastev._core.avro).

Everything here follows the Apache Avro 1.11 specification:
  * binary encoding            -- spec "Binary Encoding"
  * Object Container Files     -- spec "Object Container Files"
  * Parsing Canonical Form     -- spec "Parsing Canonical Form for Schemas"
  * CRC-64-AVRO fingerprint    -- spec "Schema Fingerprints"
  * single-object encoding     -- spec "Single-object encoding"
plus the Confluent Schema Registry wire format (magic 0, 4-byte big-endian id).

Error contract (shared with the native module, message for message): an event
that cannot be encoded raises ValueError whose text starts with the field name.
"""
from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from fastev.avro_format import (
    CODECS,
    KIND_ORDINALS,
    OCF_MAGIC,
    SCHEMA_CANONICAL,
    SCHEMA_FINGERPRINT,
    SCHEMA_FINGERPRINT_BYTES,
    SCHEMA_JSON,
    SINGLE_OBJECT_MAGIC,
    SOURCE_ORDINALS,
    SYNC_SIZE,
    fingerprint64,
    fingerprint_bytes,
    parsing_canonical_form,
    single_object_frame,
)
from fastev.avro_format import ocf_header as _ocf_header
from fastev.avro_format import zigzag_varint as _zigzag_varint
from fastev.event import FIELDS, StorageEvent, event_fields

__all__ = (
    "CODECS", "OCF_MAGIC", "SCHEMA_CANONICAL", "SCHEMA_FINGERPRINT", "SCHEMA_FINGERPRINT_BYTES",
    "SCHEMA_JSON", "SINGLE_OBJECT_MAGIC", "SYNC_SIZE",
    "OcfWriter", "confluent_frame", "encode_event", "fingerprint64", "fingerprint_bytes",
    "ocf_bytes", "parsing_canonical_form", "single_object_frame",
)

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


# Field layout of org.fastev.v1.StorageEvent, in schema order (checked against the
# shipped schema by the tests).
_STRING, _LONG, _INT, _BOOL = "string", "long", "int", "boolean"
_OPT_STRING, _OPT_LONG = "?string", "?long"
_SOURCE, _KIND, _ID, _GROUPS, _ATTRS = "Source", "Kind", "id", "groups", "attrs"
FIELD_TYPES: tuple[tuple[str, str], ...] = (
    ("id", _ID), ("source", _SOURCE), ("kind", _KIND), ("raw_type", _STRING), ("time_us", _LONG),
    ("path", _STRING), ("old_path", _OPT_STRING), ("is_dir", _BOOL), ("size", _OPT_LONG),
    ("bytes", _OPT_LONG), ("duration_ms", _OPT_LONG), ("status", _INT), ("status_msg", _OPT_STRING),
    ("file_id", _OPT_STRING), ("user", _OPT_STRING), ("uid", _OPT_LONG), ("gid", _OPT_LONG),
    ("groups", _GROUPS), ("client", _OPT_STRING), ("protocol", _OPT_STRING), ("system", _OPT_STRING),
    ("storage_class", _OPT_STRING), ("attrs", _ATTRS),
)
assert tuple(name for name, _ in FIELD_TYPES) == FIELDS

_HEX = frozenset("0123456789abcdef")


# -- primitive encoders (spec "Binary Encoding": primitive types) ----------------------------

def _utf8(field: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected str, got {type(value).__name__}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{field}: string is not encodable as UTF-8") from None


def _string(field: str, value: object) -> bytes:
    """string: long byte length, then UTF-8 bytes."""
    data = _utf8(field, value)
    return _zigzag_varint(len(data)) + data


def _long(field: str, value: object, lo: int = INT64_MIN, hi: int = INT64_MAX) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{field}: expected int, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{field}: {value} is outside {'int32' if hi == INT32_MAX else 'int64'}")
    return _zigzag_varint(value)


def _symbol(field: str, value: object, ordinals: dict[str, int], enum: str) -> bytes:
    """enum: the symbol's zero-based position in the schema, as an int."""
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected str, got {type(value).__name__}")
    ordinal = ordinals.get(value)
    if ordinal is None:
        raise ValueError(f"{field}: {str(value)!r} is not a {enum} symbol")
    return _zigzag_varint(ordinal)


def _encode_field(out: bytearray, field: str, kind: str, value: object) -> None:
    if kind == _STRING:
        out += _string(field, value)
    elif kind == _OPT_STRING:
        # union ["null", "string"]: branch index as a long, then the value (spec "Unions")
        out += b"\x00" if value is None else b"\x02" + _string(field, value)
    elif kind == _OPT_LONG:
        out += b"\x00" if value is None else b"\x02" + _long(field, value)
    elif kind == _LONG:
        out += _long(field, value)
    elif kind == _INT:
        out += _long(field, value, INT32_MIN, INT32_MAX)
    elif kind == _BOOL:
        if not isinstance(value, bool):
            raise ValueError(f"{field}: expected bool, got {type(value).__name__}")
        out.append(1 if value else 0)
    elif kind == _ID:
        if not isinstance(value, str):
            raise ValueError(f"{field}: expected str, got {type(value).__name__}")
        if len(value) != 32 or not _HEX.issuperset(value):
            raise ValueError(f"{field}: expected 32 lowercase hex characters")
        out += b"\x40" + value.encode("ascii")  # length 32 zig-zags to 0x40
    elif kind == _SOURCE:
        out += _symbol(field, value, SOURCE_ORDINALS, "Source")
    elif kind == _KIND:
        out += _symbol(field, value, KIND_ORDINALS, "Kind")
    elif kind == _GROUPS:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{field}: expected list, got {type(value).__name__}")
        # array: one block (count, items) when non-empty, then the 0 end marker (spec "Arrays")
        if value:
            out += _zigzag_varint(len(value))
            for i, item in enumerate(value):
                out += _string(f"{field}[{i}]", item)
        out.append(0)
    elif kind == _ATTRS:
        if not isinstance(value, dict):
            raise ValueError(f"{field}: expected dict, got {type(value).__name__}")
        # map: like arrays, each item a (string key, value) pair, insertion order (spec "Maps")
        if value:
            out += _zigzag_varint(len(value))
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueError(f"{field}: key: expected str, got {type(key).__name__}")
                out += _string(f"{field}: key", key)
                out += _string(f"{field}[{key!r}]", item)
        out.append(0)
    else:  # pragma: no cover - FIELD_TYPES is closed
        raise AssertionError(kind)


def encode_event(d: StorageEvent | Mapping[str, Any]) -> bytes:
    """The Avro binary encoding of one event: a StorageEvent, or a mapping with the FIELDS as keys."""
    d = event_fields(d)
    out = bytearray()
    for field, kind in FIELD_TYPES:
        try:
            value = d[field]
        except KeyError:
            raise ValueError(f"{field}: missing") from None
        _encode_field(out, field, kind, value)
    return bytes(out)


def confluent_frame(schema_id: int, payload: bytes) -> bytes:
    """Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro payload."""
    if not 0 <= schema_id <= INT32_MAX:
        raise ValueError(f"schema_id: {schema_id} is outside 0..2**31-1")
    return b"\x00" + schema_id.to_bytes(4, "big") + payload


# -- Object Container Files (spec "Object Container Files") ----------------------------------

def _check_ocf_args(codec: str, sync_marker: bytes | None, block_events: int) -> bytes:
    if codec not in CODECS:
        raise ValueError(f"codec: {codec!r} is not one of {CODECS}")
    if block_events < 1:
        raise ValueError(f"block_events: {block_events} is not positive")
    if sync_marker is None:
        return os.urandom(SYNC_SIZE)
    if len(sync_marker) != SYNC_SIZE:
        raise ValueError(f"sync_marker: expected {SYNC_SIZE} bytes, got {len(sync_marker)}")
    return bytes(sync_marker)


def deflate_block(data: bytes) -> bytes:
    """The "deflate" codec is raw DEFLATE (RFC 1951): no zlib header, no checksum."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


class OcfWriter:
    """Writes StorageEvents as an Avro Object Container File to a binary file object.

    The header goes out at construction, so even a file without events is valid.
    Events are buffered and written as one data block per ``block_events`` events
    (count, byte size, data, sync marker). ``close()`` flushes; it does not close fileobj.
    """

    def __init__(self, fileobj: BinaryIO, codec: str = "null", sync_marker: bytes | None = None,
                 block_events: int = 1000) -> None:
        self._sync = _check_ocf_args(codec, sync_marker, block_events)
        self._fileobj = fileobj
        self._codec = codec
        self._block_events = block_events
        self._block = bytearray()
        self._count = 0
        self._closed = False
        fileobj.write(_ocf_header(codec, self._sync))

    @property
    def sync_marker(self) -> bytes:
        return self._sync

    @property
    def codec(self) -> str:
        return self._codec

    @property
    def pending(self) -> int:
        """Events buffered for the next block."""
        return self._count

    def write_encoded(self, payload: bytes) -> None:
        """Append one event already in Avro binary encoding (e.g. from encode_event)."""
        if self._closed:
            raise ValueError("OcfWriter is closed")
        self._block += payload
        self._count += 1
        if self._count >= self._block_events:
            self.flush_block()

    def write_event(self, d: StorageEvent | Mapping[str, Any]) -> None:
        """Append one event (a StorageEvent or a dict of its fields) to the current block."""
        self.write_encoded(encode_event(d))

    def write_events(self, events: Iterable[StorageEvent | Mapping[str, Any]]) -> None:
        """``write_event`` for each event."""
        for d in events:
            self.write_encoded(encode_event(d))

    def write_block(self, count: int, data: bytes) -> None:
        """Write ``count`` events already encoded back to back (e.g. a Transcoder route block)
        as one data block of their own, after flushing what is pending."""
        if self._closed:
            raise ValueError("OcfWriter is closed")
        if count < 0:
            raise ValueError("count: must not be negative")
        self.flush_block()
        if count == 0:
            return
        if self._codec != "null":
            data = deflate_block(data)
        self._fileobj.write(_zigzag_varint(count) + _zigzag_varint(len(data)))
        self._fileobj.write(data)
        self._fileobj.write(self._sync)

    def flush_block(self) -> None:
        """Write the buffered events as one data block; nothing when none are buffered."""
        if self._closed:
            raise ValueError("OcfWriter is closed")
        if not self._count:
            return
        data = bytes(self._block) if self._codec == "null" else deflate_block(bytes(self._block))
        self._fileobj.write(_zigzag_varint(self._count) + _zigzag_varint(len(data)) + data + self._sync)
        self._block.clear()
        self._count = 0

    def close(self) -> None:
        if not self._closed:
            self.flush_block()
            self._closed = True

    def __enter__(self) -> OcfWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def ocf_bytes(encoded_events: Iterable[bytes], codec: str = "null", sync_marker: bytes | None = None,
              block_events: int = 1000) -> bytes:
    """A whole Object Container File holding the given already-encoded events."""
    buf = io.BytesIO()
    with OcfWriter(buf, codec, sync_marker, block_events) as writer:
        for payload in encoded_events:
            writer.write_encoded(payload)
    return buf.getvalue()
