"""Hypothesis strategies for StorageEvent dicts (docs/formats.md §1), shared by the Avro tests."""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from fastev.bench.records import sample_transfer_event as transfer_event  # noqa: F401 - re-exported
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
