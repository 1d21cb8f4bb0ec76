"""``EventProducer``: a drop-in for the ``confluent_kafka.Producer`` of existing bridge scripts.

Before (a typical dCache billing bridge)::

    p = confluent_kafka.Producer({"bootstrap.servers": "kafka:9092"})
    for line in lines:
        p.produce("billing-json", json.dumps(json.loads(line)).encode())
        p.poll(0)
    p.flush()

After: the same loop, but every record is validated and normalised to the
``org.fastev.v1.StorageEvent`` Avro schema, routed (optional ``fastev.routes``),
keyed by path and sent with CloudEvents headers; rejected records are returned
and go to the dead-letter topic when one is configured::

    p = fastev.kafka.EventProducer({"bootstrap.servers": "kafka:9092",
                                    "fastev.source": "dcache-billing",
                                    "fastev.topic": "billing-events",
                                    "fastev.dead_letter_topic": "billing-rejected"})
    for line in lines:
        p.produce_raw(line)
        p.poll(0)
    p.flush()

Config keys besides librdkafka's (all optional except a topic):

- ``fastev.source``: decoder name (``dcache-billing``, ..., ``auto``; default ``auto``)
- ``fastev.topic``: the topic of every event (or of routes that name no topic)
- ``fastev.routes``: a routes TOML file (``[acl]``, ``[[route]]`` with ``topic``,
  ``format`` = ``avro`` | ``confluent`` | ``ocf``, ``key`` = ``path`` | ``id`` | ``none``)
- ``fastev.dead_letter_topic``: one message per rejected raw record, its original bytes,
  headers ``fastev_reason``, ``fastev_field``, ``fastev_source``, ``fastev_offset``, ... of its
  first error, ``fastev_error_count`` and ``fastev_errors`` (as ``fastev run``)
- ``fastev.schema_id``: the registry id for ``confluent`` routes
- ``fastev.inotify_watches``: dict or JSON file (subscription -> watched directory)
- ``fastev.ce_source``: the CloudEvents ``source`` URI (default ``urn:fastev:<decoder>``)

Moves (``IN_MOVED_FROM``/``IN_MOVED_TO``) are paired across calls; ``close()``
(not ``flush()``) emits unpaired ones as ``MOVED_OUT``.

Events decoded already (``fastev.decode(...).events``, StorageEvents, or the dicts of a
``Decoder`` batch) go with ``produce_events``: the same routes, payloads, keys and headers
as their raw records would get.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DecodeError, DeliveryError
from ..event import StorageEvent
from ..routes import CompiledRoute, RoutesConfig, RouteSpec, load_routes
from ..transcode import Transcoder, compile_routes
from .dead_letter import group_by_message, grouped_dead_letter
from .delivery import DEFAULT_OCF_EVENTS, RouteSender
from .event_batch import EventBatch
from .publisher import KafkaPublisher

__all__ = ("EventProducer", "ProduceResult")

FASTEV_KEYS = frozenset({"fastev.source", "fastev.topic", "fastev.routes", "fastev.dead_letter_topic",
                         "fastev.schema_id", "fastev.inotify_watches", "fastev.ce_source"})
ROUTE_FORMATS = ("avro", "confluent", "ocf")
ROUTE_KEYS = ("path", "id", "none")

OnDelivery = Callable[[DeliveryError | None, Hashable], None]


@dataclass(slots=True)
class ProduceResult:
    """What one ``produce_raw``/``produce_batch`` call queued, and what it rejected."""

    token: Hashable
    queued: dict[str, int] = field(default_factory=dict)   # route name -> messages queued
    errors: list[DecodeError] = field(default_factory=list)
    skipped: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class _Route:
    name: str
    topic: str
    format: str
    key: str
    ocf_events: int = DEFAULT_OCF_EVENTS


class EventProducer:
    """Raw storage records in, validated Avro events out, with the confluent_kafka.Producer verbs."""

    def __init__(self, config: dict[str, Any], *, on_reject: Callable[[DecodeError], None] | None = None) -> None:
        unknown = [k for k in config if k.startswith("fastev.") and k not in FASTEV_KEYS]
        if unknown:
            raise ConfigError(f"EventProducer: unknown config key {unknown[0]!r} "
                              f"(known: {', '.join(sorted(FASTEV_KEYS))})")
        kafka_conf = {k: v for k, v in config.items() if not k.startswith("fastev.")}
        self.source = str(config.get("fastev.source", "auto"))
        default_topic = config.get("fastev.topic")
        self.dead_letter_topic: str | None = config.get("fastev.dead_letter_topic")
        self.schema_id = int(config.get("fastev.schema_id", 0))
        self._watches = _load_watches(config.get("fastev.inotify_watches"))
        self._on_reject = on_reject
        routes_file = config.get("fastev.routes")
        if routes_file is not None:
            routes_config = load_routes(routes_file)
            specs: Sequence[RouteSpec] = routes_config.routes
            self._routes_config: Any = routes_config
            if not specs:
                raise ConfigError(f"{routes_file}: no [[route]] tables")
        else:
            if not default_topic:
                raise ConfigError("EventProducer: set fastev.topic (or fastev.routes with a topic per route)")
            specs = (RouteSpec("default", extra={"topic": default_topic}),)
            self._routes_config = specs
        self.routes: dict[str, _Route] = {}
        for spec in specs:
            topic = spec.extra.get("topic", default_topic)
            fmt = spec.extra.get("format", "avro")
            key = spec.extra.get("key", "path")
            where = f"route {spec.name!r}"
            if not isinstance(topic, str) or not topic:
                raise ConfigError(f"{where}.topic: required (or set fastev.topic)")
            if fmt not in ROUTE_FORMATS:
                raise ConfigError(f"{where}.format: {fmt!r} is not one of {ROUTE_FORMATS}")
            if key not in ROUTE_KEYS:
                raise ConfigError(f"{where}.key: {key!r} is not one of {ROUTE_KEYS}")
            self.routes[spec.name] = _Route(spec.name, topic, fmt, key)
        self._framings = sorted({"confluent" if r.format == "confluent" else "avro"
                                 for r in self.routes.values()}, key=lambda f: f != "avro")
        self._callbacks: dict[Hashable, OnDelivery] = {}
        self._serial = itertools.count()
        self._transcoders: dict[tuple[str, str], Transcoder] = {}
        self._compiled: list[CompiledRoute] | None = None  # produce_events' routing, made on first use
        self.publisher = KafkaPublisher(kafka_conf, on_delivery=self._delivered)
        self._sender = RouteSender(self.publisher, config.get("fastev.ce_source"))
        self.rejected = 0
        self.queued = 0
        self._check_topics()

    def _check_topics(self) -> None:
        topics = {r.topic for r in self.routes.values()}
        if self.dead_letter_topic:
            topics.add(self.dead_letter_topic)
        for topic in sorted(topics):
            self.publisher.ensure_topic(topic)

    def _transcoder(self, source: str, framing: str) -> Transcoder:
        tc = self._transcoders.get((source, framing))
        if tc is None:
            opts: dict[str, Any] = {}
            if self._watches is not None:
                opts["inotify_watches"] = self._watches
            tc = Transcoder(source, self._routes_config, framing=framing, schema_id=self.schema_id, **opts)
            self._transcoders[(source, framing)] = tc
        return tc

    # -- the confluent_kafka.Producer verbs ------------------------------------------------------
    def produce_raw(self, record: bytes | str, source: str | None = None, topic: str | None = None, *,
                    on_delivery: OnDelivery | None = None, token: Hashable = None) -> ProduceResult:
        """Decode one raw record (a JSON line, an S3 message, an SSE frame) and queue its events."""
        if isinstance(record, str):
            record = record.encode("utf-8")
        return self.produce_batch([record], source, topic, on_delivery=on_delivery, token=token)

    def produce_batch(self, records: Iterable[bytes | str], source: str | None = None,
                      topic: str | None = None, *, on_delivery: OnDelivery | None = None,
                      token: Hashable = None) -> ProduceResult:
        """Decode a list of raw records and queue their events (one token for the whole call).

        ``topic`` overrides every route's topic for this call. ``on_delivery(error, token)``
        fires once, when every message derived from these records has its delivery report.
        """
        # bytes pass through as they are (no copy); str and other buffers are converted
        recs = [r if type(r) is bytes else (r.encode("utf-8") if isinstance(r, str) else bytes(r))
                for r in records]
        return self._produce(recs, source or self.source, topic, on_delivery, token, finish=False)

    def produce_events(self, events: Iterable[StorageEvent | Mapping[str, Any]], topic: str | None = None, *,
                       on_delivery: OnDelivery | None = None, token: Hashable = None) -> ProduceResult:
        """Queue decoded events (StorageEvents or dicts of their fields) on the routes that take them.

        A value that is not an event raises TypeError/ValueError naming its index, and nothing
        of the call is queued. ``topic`` and ``on_delivery`` as in ``produce_batch``.
        """
        confluent = [r.name for r in self.routes.values() if r.format == "confluent"]
        batch = EventBatch(events, self._compiled_routes(), confluent, self.schema_id)
        result = self._begin(token, on_delivery)
        token = result.token
        try:
            for route in self.routes.values():
                result.queued[route.name] = self._send_route(batch, route, topic, token)
        finally:
            self.publisher.seal(token)
        self.queued += sum(result.queued.values())
        return result

    def _begin(self, token: Hashable, on_delivery: OnDelivery | None) -> ProduceResult:
        """The result of one produce call: its token (a fresh one unless given) and its callback registered."""
        if token is None:
            token = ("fastev.EventProducer", next(self._serial))
        if on_delivery is not None:
            self._callbacks[token] = on_delivery
        return ProduceResult(token)

    def _compiled_routes(self) -> list[CompiledRoute]:
        if self._compiled is None:
            config = self._routes_config
            if isinstance(config, RoutesConfig):
                from ..acl import Acl

                acl = Acl.from_toml(config.acl_file) if config.acl_file is not None else None
                self._compiled = compile_routes(config.routes, acl)
            else:
                self._compiled = compile_routes(config, None)
        return self._compiled

    def _produce(self, recs: list[bytes], source: str, topic: str | None, on_delivery: OnDelivery | None,
                 token: Hashable, finish: bool) -> ProduceResult:
        result = self._begin(token, on_delivery)
        token = result.token
        try:
            # One decode per framing in use ("avro" first: its batch gives the errors).
            for i, framing in enumerate(self._framings):
                tc = self._transcoder(source, framing)
                batch = tc.finish() if finish else tc.feed_records(recs)
                if finish:
                    del self._transcoders[(source, framing)]
                for route in self.routes.values():
                    if (route.format == "confluent") == (framing == "confluent"):
                        result.queued[route.name] = self._send_route(batch, route, topic, token)
                if i == 0:
                    result.errors = list(batch.errors)
                    result.skipped = batch.stats.skipped
            for err in result.errors:
                self.rejected += 1
                if self._on_reject is not None:
                    self._on_reject(err)
            if self.dead_letter_topic:  # one per rejected raw message, with all its reasons
                for group in group_by_message(result.errors):
                    value, headers = grouped_dead_letter(group, source=group[0].source or source)
                    self.publisher.send(self.dead_letter_topic, [value], None, [headers], token=token)
        finally:
            self.publisher.seal(token)
        self.queued += sum(result.queued.values())
        return result

    def _send_route(self, batch: Any, route: _Route, topic: str | None, token: Hashable) -> int:
        _, messages = self._sender.send(batch, route, token, topic)
        return messages

    def _delivered(self, token: Hashable, error: DeliveryError | None) -> None:
        cb = self._callbacks.pop(token, None)
        if cb is not None:
            cb(error, token)

    def poll(self, timeout: float = 0.0) -> int:
        return self.publisher.poll(timeout)

    def flush(self, timeout: float | None = None) -> int:
        """Wait until every queued message is acknowledged (0), as ``Producer.flush``."""
        return self.publisher.flush(timeout)

    def finish(self, source: str | None = None) -> ProduceResult:
        """End of input for ``source`` (default: all): emit unpaired moves as MOVED_OUT."""
        sources = {s for s, _ in self._transcoders} if source is None else {source}
        total = ProduceResult(("fastev.EventProducer", next(self._serial)))
        for s in sorted(sources):
            r = self._produce([], s, None, None, None, finish=True)
            for k, v in r.queued.items():
                total.queued[k] = total.queued.get(k, 0) + v
            total.errors += r.errors
        return total

    def close(self, timeout: float | None = 30.0) -> None:
        """finish() every source, then flush."""
        self.finish()
        self.publisher.close(30.0 if timeout is None else timeout)

    def __len__(self) -> int:
        return len(self.publisher)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()


def _load_watches(value: Any) -> dict[str, str] | None:
    if value is None or isinstance(value, dict):
        return value
    p = Path(value)
    try:
        data = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"fastev.inotify_watches: cannot read {p}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"fastev.inotify_watches: {p} must hold a JSON object")
    return data
