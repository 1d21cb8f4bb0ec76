"""Schema identity (Parsing Canonical Form, CRC-64-AVRO) and message framing."""
from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import fastavro
import fastavro.schema
import pytest

import fastev.avro
from fastev._ref import avro as reference
from fastev._ref.avro import fingerprint_bytes, parsing_canonical_form, single_object_frame
from fastev.event import schema, schema_text

from .strategies import transfer_event


def test_shipped_schema_canonical_form_matches_fastavro() -> None:
    assert fastev.avro.SCHEMA_CANONICAL == fastavro.schema.to_parsing_canonical_form(schema())
    assert "logicalType" not in fastev.avro.SCHEMA_CANONICAL and "doc" not in fastev.avro.SCHEMA_CANONICAL
    assert '"name":"org.fastev.v1.Kind"' in fastev.avro.SCHEMA_CANONICAL


def test_shipped_schema_fingerprint_matches_fastavro(avro: ModuleType) -> None:
    canonical = fastev.avro.SCHEMA_CANONICAL
    expected_hex = fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")  # little-endian bytes, hex
    assert avro.fingerprint64(canonical.encode()) == fastev.avro.SCHEMA_FINGERPRINT
    assert fingerprint_bytes(fastev.avro.SCHEMA_FINGERPRINT).hex() == expected_hex
    assert fastev.avro.SCHEMA_FINGERPRINT_BYTES.hex() == expected_hex


def test_fingerprint_known_vectors(avro: ModuleType) -> None:
    # Avro spec "Schema Fingerprints": the empty input gives the EMPTY constant; the
    # Avro project's schema-tests.txt lists 7195948357588979594 for the schema "null".
    assert avro.fingerprint64(b"") == 0xC15D213AA4D7A795
    assert avro.fingerprint64(b'"null"') == 7195948357588979594
    assert avro.fingerprint64(bytearray(b'"null"')) == 7195948357588979594
    for text in ('"int"', '"string"', '{"type":"fixed","name":"F","size":16}'):
        assert fingerprint_bytes(avro.fingerprint64(text.encode())).hex() == \
            fastavro.schema.fingerprint(text, "CRC-64-AVRO")


CANONICAL_CASES: list[Any] = [
    "int",
    {"type": "long", "logicalType": "timestamp-millis"},
    ["null", {"type": "string"}],
    {"type": "fixed", "name": "md5", "namespace": "a.b", "size": 16, "doc": "x", "aliases": ["y"]},
    {"type": "record", "name": "R", "namespace": "ns", "doc": "d", "fields": [
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"], "default": "A"}},
        {"name": "e2", "type": "E"},
        {"name": "o", "type": {"type": "record", "name": "x.Other", "fields": [
            {"name": "inner", "type": {"type": "enum", "name": "In", "symbols": ["Z"]}}]}},
        {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": "ns.E"}}},
        {"name": "u", "type": ["null", "x.In"], "default": None, "order": "ignore"},
    ]},
]


@pytest.mark.parametrize("case", CANONICAL_CASES, ids=range(len(CANONICAL_CASES)))
def test_parsing_canonical_form_matches_fastavro(case: Any) -> None:
    assert parsing_canonical_form(json.dumps(case)) == fastavro.schema.to_parsing_canonical_form(case)


def test_parsing_canonical_form_of_text_and_dict_agree() -> None:
    assert parsing_canonical_form(schema_text()) == parsing_canonical_form(schema())


def test_confluent_frame(avro: ModuleType) -> None:
    payload = avro.encode_event(transfer_event())
    framed = avro.confluent_frame(0x01020304, payload)
    assert framed == b"\x00\x01\x02\x03\x04" + payload
    assert avro.confluent_frame(0, b"") == b"\x00\x00\x00\x00\x00"
    assert avro.confluent_frame(2**31 - 1, b"x") == b"\x00\x7f\xff\xff\xffx"


@pytest.mark.parametrize("schema_id", [-1, 2**31, 2**40])
def test_confluent_frame_rejects_bad_ids(avro: ModuleType, schema_id: int) -> None:
    with pytest.raises(ValueError, match="^schema_id: "):
        avro.confluent_frame(schema_id, b"")


def test_single_object_frame_layout() -> None:
    payload = reference.encode_event(transfer_event())
    framed = single_object_frame(payload)
    assert framed[:2] == b"\xc3\x01" and framed[2:10] == fastev.avro.SCHEMA_FINGERPRINT_BYTES
    assert framed[10:] == payload
