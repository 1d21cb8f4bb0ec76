"""The Kafka source of ``fastev run``: a consumer-group subscription, offsets committed after delivery.

Pairing formats: a message's offset is committed only once ``pairing_window + 1``
records follow it (``HeldPositions``), counted as the decoder counts them.

The consumer's librdkafka log goes through fastev's logging (``watched_client_config``), and
``check_topics`` looks its topics up before anything is read: an unreachable cluster is one
line naming its servers within a few seconds, not librdkafka's flood of ``FAIL`` lines.
"""
from __future__ import annotations

import asyncio
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, DeliveryError
from ..framing import SSE_STARTS, sse_message_frames
from ..kafka.librdkafka_log import client_topic_metadata, watched_client_config
from ..options import DEFAULT_MAX_RECORD_BYTES
from .config import SourceConfig
from .sources import Stream, Unit

__all__ = ("KafkaSource", "HeldPositions", "CONSUMER_DEFAULTS")

CONSUME_BATCH = 20000
CONSUME_TIMEOUT_S = 0.2
TOPIC_LOOKUP_TIMEOUT_S = 10.0  # a reachable but slow cluster; an unreachable one is reported after ~2 s
# Tansu assigns partitions only with short session/poll intervals (minutes otherwise).
CONSUMER_DEFAULTS: dict[str, Any] = {
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "max.poll.interval.ms": 60000,
    "log_level": 3,
}


def _message_records(value: bytes | None, fmt: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> int:
    """Records the decoder counts in one Kafka message value.

    A message counted 0 is released at once from the front of ``HeldPositions``,
    so a message that may carry a move must never count 0: SSE values are counted
    by the decoder's own framer (CR, LF and CRLF line ends alike). Tombstones,
    blank values and SSE frames without a data line (comments, keepalives) hold
    no move and count 0.
    """
    if value is None or not value.strip():
        return 0
    if fmt == "dcache-inotify" or (fmt == "auto" and value.lstrip().startswith(SSE_STARTS)):
        return sse_message_frames(value, max_record_bytes)
    return 1


@dataclass(slots=True)
class HeldPositions:
    """Kafka positions the decoder may still depend on (pairing window), oldest first.

    A message's position (its offset + 1) is released only once ``window + 1``
    *records* follow it, counted as the decoder counts them: by then any move
    it carries has been paired or emitted as MOVED_OUT. Record-less messages
    (tombstones, keepalive frames) never advance the window; at the front they
    are released at once (no held record precedes them).
    """

    window: int
    items: deque[tuple[tuple[str, int], int, int]] = field(default_factory=deque)  # (tp, offset, records)
    records: int = 0

    def add(self, tp: tuple[str, int], offset: int, records: int) -> None:
        self.items.append((tp, offset, records))
        self.records += records

    def release(self, out: dict[tuple[str, int], int]) -> None:
        """Move every releasable position into ``out`` (topic-partition -> next offset)."""
        items = self.items
        while items and (items[0][2] == 0 or self.records - items[0][2] > self.window):
            tp, offset, n = items.popleft()
            self.records -= n
            out[tp] = offset + 1

    def drain(self) -> dict[tuple[str, int], int]:
        """Every position (end of input: the decoder's finish emits whatever it holds)."""
        rest = {tp: offset + 1 for tp, offset, _ in self.items}
        self.items.clear()
        self.records = 0
        return rest


class KafkaSource:
    """A consumer-group subscription, until stopped. Offsets are committed explicitly, after delivery."""

    kind = "kafka"

    def __init__(self, config: SourceConfig, bootstrap: str, consumer_config: dict[str, Any]) -> None:
        from confluent_kafka import Consumer, KafkaException

        self.config = config
        conf = {**CONSUMER_DEFAULTS, **consumer_config, "bootstrap.servers": bootstrap,
                "group.id": config.group, "enable.auto.commit": False, "enable.auto.offset.store": False}
        self._fatal: DeliveryError | None = None

        def error_cb(err: Any) -> None:
            if err.fatal():
                self._fatal = DeliveryError(f"source {config.name!r}: fatal consumer error: {err.str()}")

        conf["error_cb"] = error_cb
        conf, self._watch = watched_client_config(conf)  # librdkafka's log to fastev.kafka.librdkafka
        self.bootstrap = bootstrap
        try:
            self.consumer = Consumer(conf)
        except KafkaException as exc:
            raise ConfigError(f"kafka.consumer (source {config.name!r}): {exc.args[0].str()}") from None
        self.assigned: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self.committed = 0
        self.commit_errors = 0
        self.asynchronous = True   # the drain at shutdown commits synchronously
        self.lag: dict[tuple[str, int], int] = {}
        self.stream = Stream(config, ",".join(config.topics), self.commit)
        self._held = HeldPositions(config.pairing_window)

    def check_topics(self, timeout: float = TOPIC_LOOKUP_TIMEOUT_S) -> None:
        """Every topic must exist; an unreachable cluster raises one DeliveryError naming its servers
        (within a few seconds). Call before ``units``: it serves the consumer's callbacks."""
        for topic in self.config.topics:
            meta = client_topic_metadata(self.consumer, self._watch, self.bootstrap, topic, timeout)
            if meta is None or meta.error is not None:
                reason = meta.error.str() if meta is not None and meta.error is not None else "not listed"
                raise DeliveryError(f"source {self.config.name!r}: topic {topic!r} does not exist on "
                                    f"{self.bootstrap} ({reason})")

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        with self._lock:
            self.assigned.update((p.topic, p.partition) for p in partitions)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        # Positions of revoked partitions are no longer ours to commit: the new owner
        # resumes from the last commit (duplicates possible, never a loss).
        with self._lock:
            self.assigned.difference_update((p.topic, p.partition) for p in partitions)

    def _consume(self) -> list[Any]:
        msgs: list[Any] = self.consumer.consume(CONSUME_BATCH, CONSUME_TIMEOUT_S)
        return msgs

    async def units(self, stop: asyncio.Event) -> AsyncIterator[Unit]:
        from confluent_kafka import KafkaError

        self.consumer.subscribe(list(self.config.topics), on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_revoke)
        held = self._held
        while not stop.is_set():
            msgs = await asyncio.to_thread(self._consume)
            if self._fatal is not None:
                raise self._fatal
            values: list[bytes] = []
            offsets: list[int] = []
            inputs: list[str] = []
            size = 0
            released: dict[tuple[str, int], int] = {}
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    if err.fatal() or err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                        raise DeliveryError(f"source {self.config.name!r}: {err.str()}")
                    print(f"fastev run: source {self.config.name!r}: consumer: {err.str()}", file=sys.stderr)
                    continue
                tp = (m.topic(), m.partition())
                value = m.value()
                if value is not None:  # a tombstone carries no record, but its offset is ours
                    values.append(value)
                    offsets.append(m.offset())
                    inputs.append(f"{tp[0]}[{tp[1]}]")
                    size += len(value)
                if held.window:
                    held.add(tp, m.offset(), _message_records(value, self.config.format, self.config.max_record_bytes))
                else:
                    released[tp] = m.offset() + 1
            held.release(released)
            if not values and not released:
                continue
            yield Unit(self.stream, values, released or None, offsets=offsets, inputs=inputs, read_bytes=size)
        # Drain: everything read so far, then the decoder's held-back moves, then every position.
        rest = held.drain()
        yield Unit(self.stream, [], rest or None, final=True, offsets=[], inputs=[])

    def commit(self, positions: list[Any]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        merged: dict[tuple[str, int], int] = {}
        for p in positions:
            merged.update(p)
        with self._lock:
            mine = [TopicPartition(t, p, off) for (t, p), off in merged.items() if (t, p) in self.assigned]
        if not mine:
            return
        try:
            if self.asynchronous:
                self.consumer.commit(offsets=mine, asynchronous=True)
            else:
                self.consumer.commit(offsets=mine, asynchronous=False)
            self.committed += 1
        except KafkaException as exc:
            # A commit lost to a rebalance only means duplicates after restart, never a loss.
            self.commit_errors += 1
            print(f"fastev run: source {self.config.name!r}: offset commit failed: {exc.args[0]}", file=sys.stderr)

    def close(self) -> None:
        self.consumer.close()

    def consumer_lag(self) -> dict[tuple[str, int], int]:
        """Messages behind the high watermark per assigned partition (cheap: cached watermarks)."""
        from confluent_kafka import TopicPartition

        with self._lock:
            tps = [TopicPartition(t, p) for t, p in self.assigned]
        out: dict[tuple[str, int], int] = {}
        if not tps:
            return out
        try:
            positions = self.consumer.position(tps)
        except Exception:  # noqa: BLE001 - lag is best effort
            return out
        for tp in positions:
            try:
                _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            except Exception:  # noqa: BLE001
                continue
            if high >= 0 and tp.offset >= 0:
                out[(tp.topic, tp.partition)] = max(0, high - tp.offset)
        return out
