"""One route's share of a RouteBatch -> Kafka messages (value, key, CloudEvents headers).

Shared by ``fastev run`` and ``EventProducer``. Route formats (issue 3): ``avro``
(one event per message, plain Avro binary, CloudEvents binary-mode headers),
``confluent`` (Confluent wire framing, from a transcoder built with that
framing) and ``ocf`` (one Avro Object Container File per message, up to
``ocf_events`` events and under ``OCF_MAX_BYTES``). Keys: the event path (events
of one file stay ordered in one partition), the event id, or none.
"""
from __future__ import annotations

import io
from collections.abc import Hashable
from typing import Any, Protocol

from ..avro import OcfWriter
from .cloudevents import CloudEventHeaders
from .publisher import KafkaPublisher

__all__ = ("RouteSender", "RouteTargetLike", "OCF_HEADERS", "OCF_MAX_BYTES", "DEFAULT_OCF_EVENTS", "ocf_block")

OCF_HEADERS: list[tuple[str, str | bytes | None]] = [("content-type", "application/avro-ocf")]
# An OCF message stays under the broker's default message.max.bytes (1 MB), with room for the header.
OCF_MAX_BYTES = 900_000
DEFAULT_OCF_EVENTS = 1000  # events per ocf message unless the route sets ocf_events


class RouteTargetLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def format(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def ocf_events(self) -> int: ...


def ocf_block(count: int, block: bytes) -> bytes:
    """An Avro Object Container File holding one data block of ``count`` encoded events."""
    buf = io.BytesIO()
    with OcfWriter(buf) as writer:
        writer.write_block(count, block)
    return buf.getvalue()


class RouteSender:
    """Sends a route's events from a RouteBatch through a KafkaPublisher under one delivery token."""

    def __init__(self, publisher: KafkaPublisher, ce_source: str | None = None) -> None:
        self.publisher = publisher
        self.ce = {"avro": CloudEventHeaders(ce_source),
                   "confluent": CloudEventHeaders(ce_source, framing="confluent")}

    def send(self, batch: Any, target: RouteTargetLike, token: Hashable,
             topic: str | None = None) -> tuple[int, int]:
        """Queue the route's events (to ``topic`` if given); returns (events, messages) queued."""
        n: int = batch.count(target.name)
        if n == 0:
            return 0, 0
        topic = topic or target.topic
        if target.format == "ocf":
            files = [ocf_block(count, block) for count, block in
                     batch.blocks(target.name, target.ocf_events, OCF_MAX_BYTES)]
            self.publisher.send(topic, files, None, [OCF_HEADERS] * len(files), token=token)
            return n, len(files)
        payloads = batch.payloads(target.name)
        if target.key == "path":
            keys: list[Any] | None = batch.paths(target.name)
        elif target.key == "id":
            keys = batch.ids(target.name)
        else:
            keys = None
        headers = self.ce[target.format].for_route(batch, target.name)
        self.publisher.send(topic, payloads, keys, headers, token=token)
        return n, n
