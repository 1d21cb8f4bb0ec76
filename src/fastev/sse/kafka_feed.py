"""Feeding an SSE hub from a Kafka route topic (what ``fastev serve`` runs).

Reads every partition of one topic with a plain consumer: no consumer group offsets are committed; on
start each partition is positioned so that the replay window (``sse.replay`` events, shared out over
the partitions) is filled from the topic, then it follows the topic live. Event ids are derived from
Kafka positions (fastev.sse.ids), so servers fed from the same topic and sharing ``sse.id_key_file``,
and a restarted server, understand each other's ids.
"""
from __future__ import annotations

import asyncio
import io
import signal
import uuid
from collections.abc import Callable
from typing import IO, Any, cast

from fastev.aio import run_event_loop
from fastev.errors import DeliveryError

__all__ = ("start_offsets", "avro_reader", "feed_and_serve", "FeedError")

CONSUME_BATCH = 1000
CONSUME_TIMEOUT_S = 0.2
CONFLUENT_HEADER = 5  # magic byte + 4-byte schema id


class FeedError(Exception):
    """What stopped the feed, and the exit status it means (1: Kafka, 2: configuration)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def start_offsets(watermarks: dict[int, tuple[int, int]], replay: int) -> dict[int, int]:
    """Where each partition starts so that the replay window holds up to ``replay`` of the newest events,
    shared out evenly (a partition with fewer events leaves its share to the others)."""
    first = {p: high for p, (low, high) in watermarks.items()}
    left, open_ = replay, sorted(p for p, (low, high) in watermarks.items() if high > low)
    while left > 0 and open_:
        share = max(1, left // len(open_))
        still = []
        for p in open_:
            low = watermarks[p][0]
            take = min(share, first[p] - low, left)
            first[p] -= take
            left -= take
            if first[p] > low:
                still.append(p)
            if left == 0:
                break
        open_ = still
    return first


def avro_reader(fmt: str) -> Callable[[bytes], dict[str, Any]]:
    """Decodes one message of a route in format ``avro`` or ``confluent`` to the event dict."""
    import fastavro

    from fastev.event import schema

    avro_schema: Any = schema
    # time_us as a plain long: the same ints as the decoder's event dicts (and fastev run's SSE frames).
    parsed = fastavro.parse_schema({**avro_schema(), "fields": [
        {**f, "type": "long"} if f["name"] == "time_us" else f for f in avro_schema()["fields"]]})
    skip = CONFLUENT_HEADER if fmt == "confluent" else 0

    def read(value: bytes) -> dict[str, Any]:
        event: Any = fastavro.schemaless_reader(io.BytesIO(memoryview(value)[skip:]), parsed)
        return cast(dict[str, Any], event)

    return read


class _Feed:
    """One topic's partitions, positioned for the replay window, published to a hub."""

    def __init__(self, consumer: Any, topic: str, hub: Any, read: Callable[[bytes], dict[str, Any]],
                 log: IO[str], metadata: Callable[[], Any]) -> None:
        self.consumer, self.topic, self.hub, self.read, self.log = consumer, topic, hub, read, log
        self.metadata = metadata  # the topic's metadata (None: no such topic); raises KafkaException

    def position(self, replay: int) -> tuple[list[int], dict[int, tuple[int, int]], dict[int, int]]:
        from confluent_kafka import KafkaException, TopicPartition

        try:
            meta = self.metadata()
            if meta is None or meta.error is not None:
                reason = meta.error.str() if meta is not None and meta.error is not None else "not found"
                raise FeedError(f"topic {self.topic!r}: {reason}", 2)
            partitions = sorted(meta.partitions)
            watermarks = {p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
                          for p in partitions}
        except KafkaException as e:
            raise FeedError(f"topic {self.topic!r}: {e.args[0].str()}", 1) from None
        except DeliveryError as e:  # the cluster could not be reached: one line naming its servers
            raise FeedError(str(e), 1) from None
        first = start_offsets(watermarks, replay)
        for p in partitions:
            self.hub.seek(p, first[p], watermarks[p][0])
        self.consumer.assign([TopicPartition(self.topic, p, first[p]) for p in partitions])
        return partitions, watermarks, first

    def publish(self, msgs: list[Any]) -> None:
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise FeedError(f"kafka: {err.str()}", 1)
                continue  # partition EOF and transient errors
            value = msg.value()
            if value is None:
                continue
            try:
                self.hub.publish(self.read(value), msg.offset(), msg.partition())
            except (ValueError, EOFError, IndexError, TypeError) as e:
                print(f"fastev serve: offset {msg.offset()}: not served: {e}", file=self.log, flush=True)

    async def consume(self) -> list[Any]:
        loop = asyncio.get_running_loop()
        msgs: list[Any] = await loop.run_in_executor(None, self.consumer.consume, CONSUME_BATCH, CONSUME_TIMEOUT_S)
        return msgs


def feed_and_serve(config: Any, topic: str, fmt: str, hub: Any, app: Any, log: IO[str]) -> int:
    """Fill ``hub``'s window from ``topic``, serve ``app`` on ``config.sse.listen``, follow the topic until
    SIGINT/SIGTERM; returns 0, or raises :class:`FeedError`."""
    from confluent_kafka import Consumer, KafkaException

    from fastev.kafka.librdkafka_log import client_topic_metadata, watched_client_config
    from fastev.sse.server import start

    # librdkafka's log through fastev's logging; an unreachable broker: one line within seconds
    consumer_conf, watch = watched_client_config({
        **config.consumer, "bootstrap.servers": config.bootstrap_servers,
        "group.id": f"fastev-serve-{uuid.uuid4()}",  # required by librdkafka; never committed
        "enable.auto.commit": False, "enable.auto.offset.store": False})
    try:
        consumer = Consumer(consumer_conf)
    except KafkaException as e:
        raise FeedError(f"kafka.consumer: {e.args[0].str()}", 2) from None
    try:
        feed = _Feed(consumer, topic, hub, avro_reader(fmt), log,
                     lambda: client_topic_metadata(consumer, watch, config.bootstrap_servers, topic, 10))
        partitions, watermarks, first = feed.position(config.sse.replay)

        async def main() -> int:
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            # Fill the replay window up to the end seen at start before accepting clients: a client resuming
            # from an id in the window then gets exactly what followed it, never a frame it already had.
            position = dict(first)
            while any(position[p] < watermarks[p][1] for p in partitions) and not stop.is_set():
                msgs = await feed.consume()
                for msg in msgs:
                    offset, partition = msg.offset(), msg.partition()
                    if msg.error() is None and offset is not None and partition is not None:
                        position[partition] = offset + 1
                feed.publish(msgs)
            try:
                runner, port = await start(app, config.sse.host, config.sse.port)
            except OSError as e:
                raise FeedError(f"sse.listen: cannot listen on {config.sse.host}:{config.sse.port}: "
                                f"{e.strerror}", 2) from None
            print(f"fastev serve: SSE on http://{config.sse.host}:{port}/events, fed from {topic} "
                  f"({len(partitions)} partition(s), replay window from offsets "
                  f"{', '.join(f'{p}:{first[p]}' for p in partitions)})", file=log, flush=True)
            try:
                while not stop.is_set():
                    feed.publish(await feed.consume())
                return 0
            finally:
                await runner.cleanup()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

        status: int = run_event_loop(main())
        return status
    finally:
        consumer.close()
