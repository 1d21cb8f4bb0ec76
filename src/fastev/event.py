"""The normalised event (docs/formats.md §1) as plain Python objects for API users.

The hot path never builds these; they exist for callers who ask for events
(the API, JSON output, tests).
"""
from __future__ import annotations

import builtins
import enum
import json
from collections.abc import Mapping
from typing import Any

import orjson


class Source(enum.StrEnum):
    DCACHE_BILLING = "DCACHE_BILLING"
    DCACHE_INOTIFY = "DCACHE_INOTIFY"
    GPFS_AUDIT = "GPFS_AUDIT"
    GPFS_WATCH = "GPFS_WATCH"
    S3 = "S3"

    @property
    def decoder_name(self) -> str:
        return self.value.lower().replace("_", "-")

    @classmethod
    def from_decoder_name(cls, name: str) -> Source:
        return cls(name.upper().replace("-", "_"))


class Kind(enum.StrEnum):
    UPLOAD = "UPLOAD"
    DOWNLOAD = "DOWNLOAD"
    DELETE = "DELETE"
    CREATE = "CREATE"
    MODIFY = "MODIFY"
    CLOSE_WRITE = "CLOSE_WRITE"
    CLOSE = "CLOSE"
    OPEN = "OPEN"
    ACCESS = "ACCESS"
    ATTRIB = "ATTRIB"
    RENAME = "RENAME"
    MOVED_OUT = "MOVED_OUT"
    MOVED_IN = "MOVED_IN"
    REPLICATE = "REPLICATE"
    EVICT = "EVICT"
    FLUSH = "FLUSH"
    STAGE = "STAGE"
    REQUEST = "REQUEST"
    ACCESS_DENIED = "ACCESS_DENIED"
    OTHER = "OTHER"


# Enum ordinals are the Avro enum indexes; keep them in schema order.
SOURCES: tuple[str, ...] = tuple(s.value for s in Source)
KINDS: tuple[str, ...] = tuple(k.value for k in Kind)
DECODER_NAMES: tuple[str, ...] = tuple(s.decoder_name for s in Source)

FIELDS: tuple[str, ...] = (
    "id", "source", "kind", "raw_type", "time_us", "path", "old_path", "is_dir", "size",
    "bytes", "duration_ms", "status", "status_msg", "file_id", "user", "uid", "gid",
    "groups", "client", "protocol", "system", "storage_class", "attrs",
)


def schema_text() -> str:
    """The shipped Avro schema (package data), as text."""
    from importlib import resources  # heavy import, only needed here
    return resources.files("fastev.schema").joinpath("storage_event.avsc").read_text("utf-8")


def schema() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(schema_text())
    return result


class StorageEvent:
    """One normalised storage event; attribute names are the fields of docs/formats.md §1."""

    __slots__ = FIELDS

    id: str
    source: str
    kind: str
    raw_type: str
    time_us: int
    path: str
    old_path: str | None
    is_dir: bool
    size: int | None
    bytes: int | None
    duration_ms: int | None
    status: int
    status_msg: str | None
    file_id: str | None
    user: str | None
    uid: int | None
    gid: int | None
    groups: list[str]
    client: str | None
    protocol: str | None
    system: str | None
    storage_class: str | None
    attrs: dict[str, str]

    def __init__(self, **fields: Any) -> None:
        missing = [f for f in FIELDS if f not in fields]
        extra = [f for f in fields if f not in FIELDS]
        if missing or extra:
            raise TypeError(f"StorageEvent fields: missing {missing}, unexpected {extra}")
        for name in FIELDS:
            object.__setattr__(self, name, fields[name])

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StorageEvent:
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """Field name -> value; enums as their symbol strings (the JSON-lines form)."""
        return {name: getattr(self, name) for name in FIELDS}

    def to_json(self) -> builtins.bytes:
        """One line of JSON; CR/LF/NUL inside strings are escaped, never raw."""
        return orjson.dumps(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorageEvent) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StorageEvent(id={self.id!r}, source={self.source}, kind={self.kind}, path={self.path!r})"


def event_fields(ev: StorageEvent | Mapping[str, Any]) -> Mapping[str, Any]:
    """An event as the mapping field -> value that writers read: a StorageEvent or a dict of its fields.

    Everything that takes an event (``fastev.avro.encode_event``, ``OcfWriter.write_event``...)
    accepts both: ``fastev.decode()`` gives StorageEvents, ``Decoder`` batches give dicts.
    """
    if isinstance(ev, StorageEvent):
        return ev.to_dict()
    if isinstance(ev, Mapping):
        return ev
    raise TypeError(f"an event is a StorageEvent or a mapping of its fields, not {type(ev).__name__}")
