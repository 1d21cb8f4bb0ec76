"""One route's share of a RouteBatch -> Kafka messages (value, key, CloudEvents headers).

Shared by ``fastev run`` and ``EventProducer``. Route formats (issue 3): ``avro``
(one event per message, plain Avro binary, CloudEvents binary-mode headers),
``confluent`` (Confluent wire framing, from a transcoder built with that
framing) and ``ocf`` (one Avro Object Container File per message, up to
``ocf_events`` events and under ``OCF_MAX_BYTES``). Keys: the event path (events
of one file stay ordered in one partition), the event id, or none.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Protocol

from ..avro import ocf_bytes
from .sink import CloudEventHeaders, KafkaSink

__all__ = ("RouteSender", "RouteTargetLike", "OCF_HEADERS", "OCF_MAX_BYTES", "split_ocf")

OCF_HEADERS: list[tuple[str, str | bytes | None]] = [("content-type", "application/avro-ocf")]
# An OCF message stays under the broker's default message.max.bytes (1 MB), with room for the header.
OCF_MAX_BYTES = 900_000


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


def split_ocf(payloads: Sequence[bytes], max_events: int, max_bytes: int = OCF_MAX_BYTES) -> list[list[bytes]]:
    """Consecutive runs of payloads, each within both limits (at least one payload per run)."""
    runs: list[list[bytes]] = []
    size = count = 0
    for p in payloads:
        if not runs or count >= max_events or size + len(p) > max_bytes:
            runs.append([])
            size = count = 0
        runs[-1].append(p)
        size += len(p)
        count += 1
    return runs


class RouteSender:
    """Sends a route's events from a RouteBatch through a KafkaSink under one delivery token."""

    def __init__(self, sink: KafkaSink, ce_source: str | None = None) -> None:
        self.sink = sink
        self.ce = {"avro": CloudEventHeaders(ce_source),
                   "confluent": CloudEventHeaders(ce_source, framing="confluent")}

    def send(self, batch: Any, target: RouteTargetLike, token: Hashable,
             topic: str | None = None) -> tuple[int, int]:
        """Queue the route's events (to ``topic`` if given); returns (events, messages) queued."""
        n: int = batch.count(target.name)
        if n == 0:
            return 0, 0
        payloads = batch.payloads(target.name)
        topic = topic or target.topic
        if target.format == "ocf":
            files = [ocf_bytes(run) for run in split_ocf(payloads, target.ocf_events)]
            self.sink.send(topic, files, None, [OCF_HEADERS] * len(files), token=token)
            return n, len(files)
        paths = batch.paths(target.name)
        if target.key == "path":
            keys: list[Any] | None = paths
        elif target.key == "id":
            keys = batch.ids(target.name)
        else:
            keys = None
        headers = self.ce[target.format].many(payloads, paths)
        self.sink.send(topic, payloads, keys, headers, token=token)
        return n, n
