"""The StorageEvent schema's identity and container constants, shared by both Avro writers.

Apache Avro 1.11 specification: Parsing Canonical Form ("Parsing Canonical Form
for Schemas"), the CRC-64-AVRO fingerprint ("Schema Fingerprints"),
single-object encoding, and the Object Container File header ("Object
Container Files"). These are constants of the shipped schema
(src/fastev/schema/storage_event.avsc, docs/formats.md §1): the native writer
(fastev._core.avro) and the reference (fastev._ref.avro) both take them from here.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastev.event import KINDS, SOURCES, schema, schema_text

__all__ = (
    "CODECS", "KIND_ORDINALS", "OCF_MAGIC", "SCHEMA_CANONICAL", "SCHEMA_FINGERPRINT", "SCHEMA_FINGERPRINT_BYTES",
    "SCHEMA_JSON", "SINGLE_OBJECT_MAGIC", "SOURCE_ORDINALS", "SYNC_SIZE",
    "fingerprint64", "fingerprint_bytes", "ocf_header", "ocf_runs", "parsing_canonical_form", "single_object_frame",
    "zigzag_varint",
)

_U64 = (1 << 64) - 1

# Avro enum indexes of the Source and Kind symbols (schema order).
SOURCE_ORDINALS: dict[str, int] = {s: i for i, s in enumerate(SOURCES)}
KIND_ORDINALS: dict[str, int] = {k: i for i, k in enumerate(KINDS)}


def zigzag_varint(n: int) -> bytes:
    """int and long: zig-zag coding, then base-128 varint, low group first."""
    z = ((n << 1) ^ (n >> 63)) & _U64
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# -- schema identity: Parsing Canonical Form + CRC-64-AVRO ---------------------------------

_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
_NAMED = frozenset(("record", "error", "enum", "fixed"))


def _json_str(s: str) -> str:
    # [STRINGS]: escapes become the UTF-8 characters themselves
    return json.dumps(s, ensure_ascii=False)


def _fullname(name: str, namespace: str) -> str:
    # [FULLNAMES]: a dotted name is already full; otherwise prefix the namespace in effect
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _canonical(node: Any, namespace: str) -> str:
    if isinstance(node, str):
        return _json_str(node if node in _PRIMITIVES else _fullname(node, namespace))
    if isinstance(node, list):
        return "[" + ",".join(_canonical(branch, namespace) for branch in node) + "]"
    if not isinstance(node, dict):
        raise ValueError(f"not an Avro schema: {node!r}")
    kind = node.get("type")
    if isinstance(kind, (dict, list)):
        return _canonical(kind, namespace)
    if not isinstance(kind, str):
        raise ValueError(f"schema without a type: {node!r}")
    if kind in _PRIMITIVES:
        return _json_str(kind)  # [PRIMITIVES] + [STRIP]: logicalType etc. go
    if kind in ("array", "map"):
        key = "items" if kind == "array" else "values"
        return f'{{"type":{_json_str(kind)},"{key}":{_canonical(node[key], namespace)}}}'
    if kind not in _NAMED:
        return _json_str(_fullname(kind, namespace))  # a reference to a named type
    ns = node.get("namespace", namespace) or ""
    name = _fullname(node["name"], ns)
    inner = name.rpartition(".")[0]
    # [ORDER]: name, type, fields, symbols, items, values, size
    parts = [f'"name":{_json_str(name)}', f'"type":{_json_str(kind)}']
    if kind in ("record", "error"):
        fields = ",".join(
            f'{{"name":{_json_str(f["name"])},"type":{_canonical(f["type"], inner)}}}' for f in node["fields"]
        )
        parts.append(f'"fields":[{fields}]')
    elif kind == "enum":
        parts.append('"symbols":[' + ",".join(_json_str(s) for s in node["symbols"]) + "]")
    else:
        parts.append(f'"size":{int(node["size"])}')  # [INTEGERS]
    return "{" + ",".join(parts) + "}"


def parsing_canonical_form(schema_json: str | Mapping[str, Any] | list[Any]) -> str:
    """The schema's Parsing Canonical Form (spec "Parsing Canonical Form for Schemas")."""
    node = json.loads(schema_json) if isinstance(schema_json, str) else schema_json
    return _canonical(node, "")


_CRC64_EMPTY = 0xC15D213AA4D7A795


def _crc64_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_CRC64_EMPTY & -(fp & 1))
        table.append(fp & _U64)
    return tuple(table)


_CRC64_TABLE = _crc64_table()


def fingerprint64(data: bytes) -> int:
    """CRC-64-AVRO (the Rabin fingerprint of spec "Schema Fingerprints"), as an unsigned int."""
    fp = _CRC64_EMPTY
    table = _CRC64_TABLE
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def fingerprint_bytes(fp: int) -> bytes:
    """The 8-byte little-endian form used by single-object encoding (and fastavro's hex)."""
    return (fp & _U64).to_bytes(8, "little")


SCHEMA_JSON: str = json.dumps(schema(), separators=(",", ":"), ensure_ascii=False)
SCHEMA_CANONICAL: str = parsing_canonical_form(schema_text())
SCHEMA_FINGERPRINT: int = fingerprint64(SCHEMA_CANONICAL.encode("utf-8"))
SCHEMA_FINGERPRINT_BYTES: bytes = fingerprint_bytes(SCHEMA_FINGERPRINT)

SINGLE_OBJECT_MAGIC = b"\xc3\x01"


def single_object_frame(payload: bytes) -> bytes:
    """Avro single-object encoding: C3 01, the schema's 8-byte LE fingerprint, the payload."""
    return SINGLE_OBJECT_MAGIC + SCHEMA_FINGERPRINT_BYTES + payload


OCF_MAGIC = b"Obj\x01"
SYNC_SIZE = 16
CODECS = ("null", "deflate")


def ocf_header(codec: str, sync_marker: bytes) -> bytes:
    # file metadata is a map<bytes>: one block of 2 pairs, then the 0 end marker
    meta = ((b"avro.schema", SCHEMA_JSON.encode("utf-8")), (b"avro.codec", codec.encode("ascii")))
    out = bytearray(OCF_MAGIC)
    out += zigzag_varint(len(meta))
    for key, value in meta:
        out += zigzag_varint(len(key)) + key + zigzag_varint(len(value)) + value
    out.append(0)
    out += sync_marker
    return bytes(out)


def ocf_runs(payloads: Sequence[bytes], max_events: int, max_bytes: int) -> list[tuple[int, bytes]]:
    """Payloads cut into (count, concatenated bytes) runs within both limits (each run holds at least
    one payload): OCF data blocks for Kafka messages of bounded size."""
    if max_events < 1:
        raise ValueError("max_events: must be positive")
    runs: list[tuple[int, bytes]] = []
    run: list[bytes] = []
    size = 0
    for p in payloads:
        if run and (len(run) >= max_events or size + len(p) > max_bytes):
            runs.append((len(run), b"".join(run)))
            run, size = [], 0
        run.append(p)
        size += len(p)
    if run:
        runs.append((len(run), b"".join(run)))
    return runs
