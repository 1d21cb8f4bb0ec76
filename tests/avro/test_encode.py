"""Avro binary encoding of StorageEvent: native == reference, read back by fastavro."""
from __future__ import annotations

import io
from types import ModuleType
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastev.avro
from fastev._ref import avro as reference
from fastev._ref.avro import FIELD_TYPES
from fastev.event import FIELDS, schema

from .impls import NO_EXTENSIONS, native
from .strategies import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, events, transfer_event

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plain_schema() -> Any:
    """The shipped schema without logicalType, so fastavro hands back time_us as the raw long."""
    s = schema()
    for field in s["fields"]:
        if isinstance(field["type"], dict) and "logicalType" in field["type"]:
            field["type"] = field["type"]["type"]
    return fastavro.parse_schema(s)


PLAIN_SCHEMA = _plain_schema()


def read_back(payload: bytes) -> dict[str, Any]:
    buf = io.BytesIO(payload)
    record: dict[str, Any] = fastavro.schemaless_reader(buf, PLAIN_SCHEMA)  # type: ignore[assignment]
    assert buf.read() == b"", "trailing bytes after the record"
    return record


def test_facade_picks_native_unless_disabled() -> None:
    expected = "reference" if NO_EXTENSIONS else "native"
    assert fastev.avro.IMPLEMENTATION == expected
    if not NO_EXTENSIONS:
        assert native() is not None


def test_field_layout_matches_shipped_schema() -> None:
    names = [f["name"] for f in schema()["fields"]]
    assert tuple(names) == FIELDS == tuple(name for name, _ in FIELD_TYPES)


@SETTINGS
@given(events())
def test_native_and_reference_agree_and_fastavro_reads_back(ev: dict[str, Any]) -> None:
    expected = reference.encode_event(ev)
    n = native()
    if n is not None:
        assert n.encode_event(ev) == expected
        assert n._dict_via_event_rec(ev) == ev
    assert read_back(expected) == ev


@settings(max_examples=100, deadline=None)
@given(events())
def test_fastavro_writer_gives_same_bytes(ev: dict[str, Any]) -> None:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, PLAIN_SCHEMA, ev)
    assert reference.encode_event(ev) == out.getvalue()


def test_known_bytes(avro: ModuleType) -> None:
    ev = transfer_event()
    ev.update(groups=[], attrs={}, time_us=-1, status=INT32_MIN, size=INT64_MIN, bytes=INT64_MAX,
              uid=None, gid=None, user=None, client="\x00\r\n")
    data = avro.encode_event(ev)
    assert data.startswith(b"\x40" + ev["id"].encode())
    assert data[33:35] == b"\x00\x02"  # Source 0 (DCACHE_BILLING), Kind 1 (DOWNLOAD)
    # ... status int32 min zig-zags to 0xFFFFFFFF: ff ff ff ff 0f
    assert b"\xff\xff\xff\xff\x0f" in data
    # ... uid, gid null; groups empty array (just the 0 end marker); client "\0\r\n"; attrs empty map
    assert data.endswith(b"\x00\x00\x00\x02\x06\x00\r\n\x02\x14Xrootd-5.0" + b"\x02\x34"
                         + b"pool-d01-r1@pool-d01Domain\x02\x18atlas:MC@osm\x00")
    assert read_back(data) == ev


def test_map_keeps_insertion_order_and_one_block(avro: ModuleType) -> None:
    ev = transfer_event()
    ev["attrs"] = {"b": "1", "a": "2"}
    ev["groups"] = ["y", "x"]
    data = avro.encode_event(ev)
    assert data.endswith(b"\x04\x02b\x021\x02a\x022\x00")
    assert b"\x04\x02y\x02x\x00" in data


def test_tuple_groups_and_mapping_input(avro: ModuleType) -> None:
    ev = transfer_event()
    expected = reference.encode_event(ev)
    assert avro.encode_event(dict(ev, groups=tuple(ev["groups"]))) == expected
    from types import MappingProxyType

    assert avro.encode_event(MappingProxyType(ev)) == expected


def test_extra_keys_are_ignored(avro: ModuleType) -> None:
    ev = transfer_event()
    assert avro.encode_event(dict(ev, extra=object())) == reference.encode_event(ev)


# -- invalid values: ValueError naming the field, same message in both ---------------------

class _Str(str):
    pass


BAD_VALUES: list[tuple[str, object, str]] = [
    ("id", "ABCDEF" * 5 + "00", "id: expected 32 lowercase hex characters"),
    ("id", "0" * 31, "id: expected 32 lowercase hex characters"),
    ("id", "\ud800" + "0" * 31, "id: expected 32 lowercase hex characters"),
    ("id", 5, "id: expected str, got int"),
    ("source", "S4", "source: 'S4' is not a Source symbol"),
    ("source", 0, "source: expected str, got int"),
    ("kind", "upload", "kind: 'upload' is not a Kind symbol"),
    ("kind", None, "kind: expected str, got NoneType"),
    ("raw_type", None, "raw_type: expected str, got NoneType"),
    ("raw_type", b"transfer", "raw_type: expected str, got bytes"),
    ("time_us", INT64_MAX + 1, "time_us: 9223372036854775808 is outside int64"),
    ("time_us", INT64_MIN - 1, "time_us: -9223372036854775809 is outside int64"),
    ("time_us", 1.5, "time_us: expected int, got float"),
    ("time_us", True, "time_us: expected int, got bool"),
    ("path", "/a/\udcff", "path: string is not encodable as UTF-8"),
    ("old_path", 7, "old_path: expected str, got int"),
    ("is_dir", 1, "is_dir: expected bool, got int"),
    ("size", 1 << 64, "size: 18446744073709551616 is outside int64"),
    ("bytes", "5", "bytes: expected int, got str"),
    ("duration_ms", 2.0, "duration_ms: expected int, got float"),
    ("status", INT32_MAX + 1, "status: 2147483648 is outside int32"),
    ("status", INT32_MIN - 1, "status: -2147483649 is outside int32"),
    ("status", None, "status: expected int, got NoneType"),
    ("status_msg", "\ud800", "status_msg: string is not encodable as UTF-8"),
    ("uid", -(1 << 70), f"uid: {-(1 << 70)} is outside int64"),
    ("gid", "0", "gid: expected int, got str"),
    ("groups", "atlas", "groups: expected list, got str"),
    ("groups", ["a", None], "groups[1]: expected str, got NoneType"),
    ("groups", ["a"] * 20 + ["\udc80"], "groups[20]: string is not encodable as UTF-8"),
    ("client", 1, "client: expected str, got int"),
    ("storage_class", b"x", "storage_class: expected str, got bytes"),
    ("attrs", [("a", "b")], "attrs: expected dict, got list"),
    ("attrs", {"a": 1}, "attrs['a']: expected str, got int"),
    ("attrs", {1: "a"}, "attrs: key: expected str, got int"),
    ("attrs", {"\ud800": "a"}, "attrs: key: string is not encodable as UTF-8"),
    ("attrs", {str(i): "v" for i in range(30)} | {"z": "\ud800"},
     "attrs['z']: string is not encodable as UTF-8"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_VALUES,
                         ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD_VALUES)])
def test_invalid_value_raises_value_error_naming_the_field(
        avro: ModuleType, field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        avro.encode_event(dict(transfer_event(), **{field: value}))
    assert str(info.value) == message


@pytest.mark.parametrize("field", FIELDS)
def test_missing_field(avro: ModuleType, field: str) -> None:
    ev = transfer_event()
    del ev[field]
    with pytest.raises(ValueError, match=f"^{field}: missing$"):
        avro.encode_event(ev)


def test_first_bad_field_in_schema_order_wins(avro: ModuleType) -> None:
    ev = dict(transfer_event(), attrs=None, kind="NOPE", status=1 << 40)
    with pytest.raises(ValueError, match="^kind: "):
        avro.encode_event(ev)


def test_enum_subclass_values_are_accepted(avro: ModuleType) -> None:
    from fastev.event import Kind, Source

    ev = transfer_event()
    assert avro.encode_event(dict(ev, kind=Kind.DOWNLOAD, source=Source.DCACHE_BILLING,
                                  path=_Str(ev["path"]))) == reference.encode_event(ev)


@SETTINGS
@given(events(), st.sampled_from(BAD_VALUES))
def test_errors_agree_on_random_events(ev: dict[str, Any], bad: tuple[str, object, str]) -> None:
    n = native()
    field, value, _ = bad
    ev = dict(ev, **{field: value})
    with pytest.raises(ValueError) as ref_info:
        reference.encode_event(ev)
    if n is not None:
        with pytest.raises(ValueError) as nat_info:
            n.encode_event(ev)
        assert str(nat_info.value) == str(ref_info.value)
