"""Hypothesis strategies for StorageEvent dicts (FORMATS.md §1), shared by the Avro tests."""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from fastev.event import FIELDS, KINDS, SOURCES

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
# timestamp-micros values a datetime can hold (years 1..9999), for readers that convert
DATETIME_MIN_US, DATETIME_MAX_US = -62135596800000000, 253402300799999999

# Any Unicode scalar value (no lone surrogates: those are not UTF-8), plus the awkward ones.
_awkward = st.sampled_from(["", "\r\n", "\x00", "a\x00b", "\n", "\U0001F600", "\U0010FFFF", "é", "e\u0301"])
_any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
texts = st.one_of(_awkward, _any_text, st.text("abc/\r\n\x00\U0001F600", max_size=8))
_extremes = st.sampled_from([0, -1, 1, 63, -64, 64, -65, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX,
                             INT64_MIN + 1, INT64_MAX - 1, 1 << 32, -(1 << 32)])
longs = st.one_of(_extremes, st.integers(INT64_MIN, INT64_MAX))
ints = st.one_of(st.sampled_from([0, -1, 1, INT32_MIN, INT32_MAX]), st.integers(INT32_MIN, INT32_MAX))


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def events(time_us: st.SearchStrategy[int] = longs) -> st.SearchStrategy[dict[str, Any]]:
    """Event dicts; up to 40 groups/attrs so the native writer's heap path is hit too."""
    d = st.fixed_dictionaries({
        "id": st.text("0123456789abcdef", min_size=32, max_size=32),
        "source": st.sampled_from(SOURCES),
        "kind": st.sampled_from(KINDS),
        "raw_type": texts,
        "time_us": time_us,
        "path": texts,
        "old_path": _optional(texts),
        "is_dir": st.booleans(),
        "size": _optional(longs),
        "bytes": _optional(longs),
        "duration_ms": _optional(longs),
        "status": ints,
        "status_msg": _optional(texts),
        "file_id": _optional(texts),
        "user": _optional(texts),
        "uid": _optional(longs),
        "gid": _optional(longs),
        "groups": st.lists(texts, max_size=40),
        "client": _optional(texts),
        "protocol": _optional(texts),
        "system": _optional(texts),
        "storage_class": _optional(texts),
        "attrs": st.dictionaries(texts, texts, max_size=40),
    })
    return d.map(lambda e: {name: e[name] for name in FIELDS})


def transfer_event() -> dict[str, Any]:
    """A dCache transfer, shaped like FORMATS.md §3.1 output."""
    return {
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
        "user": "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=atlprd/CN=123456/CN=Robot: ATLAS Production",
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
