"""One route's share of a RouteBatch -> Kafka messages (value, key, CloudEvents headers).

The route formats of issue 3: ``avro`` (one event per message, plain Avro binary),
``confluent`` (Confluent wire framing, from a transcoder built with that framing)
and ``ocf`` (one Avro Object Container File per message, up to ``ocf_events``
events). Keys: the event path (events of one file stay ordered in one
partition), the event id, or none. Same behaviour as ``EventProducer._send_route``.
"""
from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from ..avro import ocf_bytes
from ..kafka.sink import CloudEventHeaders, KafkaSink
from .config import RouteTarget

__all__ = ("RouteSender", "OCF_HEADERS")

OCF_HEADERS: list[tuple[str, str | bytes | None]] = [("content-type", "application/avro-ocf")]


class RouteSender:
    """Sends a route's events from a RouteBatch through a KafkaSink under one delivery token."""

    def __init__(self, sink: KafkaSink, ce_source: str | None = None) -> None:
        self.sink = sink
        self.ce = {"avro": CloudEventHeaders(ce_source), "confluent": CloudEventHeaders(ce_source, framing="confluent")}

    def send(self, batch: Any, target: RouteTarget, token: Hashable) -> int:
        """Queue the route's events; returns how many events (not messages) were queued."""
        n: int = batch.count(target.name)
        if n == 0:
            return 0
        payloads = batch.payloads(target.name)
        if target.format == "ocf":
            step = target.ocf_events
            files = [ocf_bytes(payloads[i:i + step]) for i in range(0, n, step)]
            self.sink.send(target.topic, files, None, [OCF_HEADERS] * len(files), token=token)
            return n
        paths = batch.paths(target.name)
        if target.key == "path":
            keys: list[Any] | None = paths
        elif target.key == "id":
            keys = batch.ids(target.name)
        else:
            keys = None
        headers = self.ce[target.format].many(payloads, paths)
        self.sink.send(target.topic, payloads, keys, headers, token=token)
        return n
