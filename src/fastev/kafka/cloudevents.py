"""CloudEvents binary-mode Kafka headers (cloudevents/spec kafka-protocol-binding.md §3.2).

The headers of an Avro route message come from the first fields of its payload, read without
decoding the event: ``ce_id``, ``ce_source`` (per source), ``ce_type`` (per kind), ``ce_time``
(RFC 3339, years 0001-9999 only) and ``ce_subject`` (the path, when there is one), then
``content-type`` and the schema fingerprint.

Which fields come first is derived from the schema here, once (``HEAD_LAYOUT``), and handed to
the one C builder (fastev/_core/cloudevents.pxd: used by the native codec, the native producer
and ``fastev._core.cloudevents``) or its reference (fastev._ref.cloudevents) under
FASTEV_NO_EXTENSIONS=1. A payload whose head cannot be read is a ValueError naming the reason.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, overload

from .. import _native
from ..avro import SCHEMA_FINGERPRINT_BYTES, SCHEMA_JSON
from ..errors import ConfigError
from ..event import DECODER_NAMES, KINDS

__all__ = ("HEAD_LAYOUT", "head_layout", "read_event_head", "rfc3339_us", "storage_source_uri", "CloudEventHeaders",
           "CloudEventHeaderList", "SCHEMA_FINGERPRINT_HEX", "IMPLEMENTATION")

Header = tuple[str, str | bytes | None]
SCHEMA_FINGERPRINT_HEX = SCHEMA_FINGERPRINT_BYTES.hex()  # as fastavro.schema.fingerprint(.., "CRC-64-AVRO")

_impl, IMPLEMENTATION = _native.load("cloudevents", "fastev._ref.cloudevents")  # reference only when native is off

_ROLES = {"id": ("i", ("string",)), "source": ("s", ("enum",)), "kind": ("k", ("enum",)),
          "time_us": ("t", ("long",))}
_SKIP = {"string": "S", "bytes": "S", "int": "V", "long": "V", "enum": "V"}


def head_layout(schema: str | dict[str, Any]) -> str:
    """The layout letters (see cloudevents.pxd) of the schema's fields up to the last one the
    headers need; a field the reader cannot skip or a header field of the wrong type raises."""
    fields = (json.loads(schema) if isinstance(schema, str) else schema)["fields"]
    layout, missing = [], set(_ROLES)
    for field in fields:
        if not missing:
            break
        ftype = field["type"]
        avro_type = ftype["type"] if isinstance(ftype, dict) else ftype
        if field["name"] in _ROLES:
            letter, allowed = _ROLES[field["name"]]
            if avro_type not in allowed:
                raise ConfigError(f"schema field {field['name']!r} is {avro_type!r}, CloudEvents headers need "
                                  f"{' or '.join(allowed)}")
            missing.discard(field["name"])
        elif isinstance(avro_type, str) and avro_type in _SKIP:
            letter = _SKIP[avro_type]
        else:
            raise ConfigError(f"schema field {field['name']!r} ({avro_type!r}) comes before a CloudEvents "
                              "header field and cannot be skipped by the header reader")
        layout.append(letter)
    if missing:
        raise ConfigError(f"schema has no field(s) {sorted(missing)} for the CloudEvents headers")
    return "".join(layout)


HEAD_LAYOUT = head_layout(SCHEMA_JSON)


def read_event_head(payload: bytes, start: int = 0) -> tuple[str, int, int, int]:
    """(id, source ordinal, kind ordinal, time_us) of an encoded StorageEvent; ``start`` skips a
    framing prefix (5 for Confluent framing). ValueError when the head cannot be read."""
    head: tuple[str, int, int, int] = _impl.read_event_head(payload, start, HEAD_LAYOUT, len(DECODER_NAMES),
                                                            len(KINDS))
    return head


def rfc3339_us(time_us: int) -> str:
    """UTC microseconds -> ``2026-02-11T08:14:05.310000Z``; ValueError outside years 0001-9999."""
    text: str = _impl.rfc3339_us(time_us)
    return text


def storage_source_uri(source: str) -> str:
    """The default CloudEvents ``source`` of a storage source, named by its §1 symbol
    (``DCACHE_BILLING``) or its decoder name (``dcache-billing``): ``urn:fastev:dcache-billing``."""
    return "urn:fastev:" + source.lower().replace("_", "-")


class CloudEventHeaders:
    """Builds the CloudEvents binary-mode Kafka headers of Avro route messages.

    ``ce_source`` defaults to ``urn:fastev:<decoder name>`` (e.g. ``urn:fastev:dcache-billing``);
    pass ``source_uri`` to name the emitting site/system instead.
    """

    __slots__ = ("source_uris", "types", "start", "layout", "content_type", "fingerprint", "native_spec")

    def __init__(self, source_uri: str | None = None, *, framing: str = "avro",
                 type_prefix: str = "org.fastev.storage.") -> None:
        if framing not in ("avro", "confluent"):
            raise ConfigError(f"CloudEvents headers: framing {framing!r} is not 'avro' or 'confluent'")
        self.source_uris = tuple(source_uri or storage_source_uri(name) for name in DECODER_NAMES)
        self.types = tuple(type_prefix + k for k in KINDS)
        self.start = 5 if framing == "confluent" else 0
        self.layout = HEAD_LAYOUT
        self.content_type: Header = ("content-type", "application/avro")
        self.fingerprint: Header = ("fastev_schema_fingerprint", SCHEMA_FINGERPRINT_HEX)
        self.native_spec: Any = None  # kproducer.CloudEvents, made by the first native publisher use

    @property
    def tail(self) -> list[Header]:
        """The constant headers after the CloudEvents ones."""
        return [self.content_type, self.fingerprint]

    def __call__(self, payload: bytes, path: str | None = None) -> list[Header]:
        headers: list[Header] = _impl.message_headers(payload, path, self.source_uris, self.types, self.start,
                                                      self.layout, self.tail)
        return headers

    def many(self, payloads: Sequence[bytes], paths: Sequence[str]) -> list[list[Header]]:
        headers: list[list[Header]] = _impl.route_headers(payloads, paths, self.source_uris, self.types,
                                                          self.start, self.layout, self.tail)
        return headers

    def for_route(self, batch: Any, route: str) -> CloudEventHeaderList:
        """The headers of every message of a RouteBatch route, built when first read."""
        return CloudEventHeaderList(self, batch, route)

    def build_route(self, batch: Any, route: str) -> list[list[Header]]:
        """The headers of every message of a RouteBatch route; native when the codec is."""
        native = getattr(batch, "ce_headers", None)
        if native is not None:
            headers: list[list[Header]] = native(route, self.source_uris, self.types, self.start, self.layout,
                                                 self.tail)
            return headers
        return self.many(batch.payloads(route), batch.paths(route))


class CloudEventHeaderList(Sequence[list[Header]]):
    """A route's CloudEvents headers, one list per message, built on first read.

    Header lists cost more Python objects than the message itself; the native publisher never
    builds them: it writes the same headers in C from each payload and path while producing.
    Anyone else reading it (the reference publisher, tests) gets ``build_route``'s lists.
    """

    __slots__ = ("ce", "batch", "route", "_items")

    def __init__(self, ce: CloudEventHeaders, batch: Any, route: str) -> None:
        self.ce = ce
        self.batch = batch
        self.route = route
        self._items: list[list[Header]] | None = None

    def items(self) -> list[list[Header]]:
        if self._items is None:
            self._items = self.ce.build_route(self.batch, self.route)
        return self._items

    def __len__(self) -> int:
        return int(self.batch.count(self.route))

    @overload
    def __getitem__(self, i: int) -> list[Header]: ...
    @overload
    def __getitem__(self, i: slice) -> list[list[Header]]: ...
    def __getitem__(self, i: int | slice) -> list[Header] | list[list[Header]]:
        return self.items()[i]

    def __eq__(self, other: object) -> bool:
        return self.items() == (other.items() if isinstance(other, CloudEventHeaderList) else other)

    __hash__ = None  # type: ignore[assignment]
