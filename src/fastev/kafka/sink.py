"""Kafka sink: an idempotent confluent-kafka producer whose every delivery report is checked.

``KafkaSink.send(topic, payloads, keys, headers_list, tokens)`` queues messages and
tags each with a caller-supplied opaque *token* (e.g. a source position). Once the
caller has sent everything derived from a token it calls ``seal(token)``; when
every message of a sealed token has its delivery report, ``on_delivery(token,
error)`` fires once (``error`` is None on success). That is what lets a pipeline
commit a source position only after everything derived from it is acknowledged
(docs/design.md, "Delivery guarantees").

- ``BufferError`` / ``_QUEUE_FULL`` is backpressure: serve delivery reports and
  retry, never drop.
- ``Producer.produce_batch`` (confluent-kafka >= 2.12) is used for messages
  without headers. It silently drops headers (confluent-kafka-python#2320,
  librdkafka#5559), so messages with headers (CloudEvents) go through
  ``produce`` one by one.
- Fatal producer errors (``KafkaError.fatal()``), a topic that does not exist
  (auto-creation is off by default) and any failed delivery raise
  ``DeliveryError`` from the next ``send``/``poll``/``flush``; the caller must
  not commit.
- Native backend: ``KafkaSink(...)`` gives a ``NativeKafkaSink`` when
  ``fastev._core.kproducer`` loaded (not under FASTEV_NO_EXTENSIONS=1) and the
  config holds no Python callbacks. It drives librdkafka from C (headers
  included, delivery reports counted per token in C) with the same API and
  accounting; this confluent-kafka class stays the reference.

The CloudEvents binary-mode headers are built from the first fields of the Avro
payload with a tiny reader (id, source, kind, raw_type, time_us are the first
five fields of ``org.fastev.v1.StorageEvent``, docs/formats.md §1), so the hot path
never decodes the event.
"""
from __future__ import annotations

import hashlib
import importlib
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, overload

from confluent_kafka import KafkaError, KafkaException, Producer

from .. import _native
from ..avro import SCHEMA_FINGERPRINT_BYTES
from ..errors import ConfigError, DecodeError, DeliveryError
from ..event import DECODER_NAMES, KINDS

__all__ = (
    "KafkaSink", "NativeKafkaSink", "IMPLEMENTATION", "CloudEventHeaders", "CloudEventHeaderList",
    "read_event_head", "rfc3339_us",
    "dead_letter_message", "DEFAULT_PRODUCER_CONFIG", "SCHEMA_FINGERPRINT_HEX",
)

Header = tuple[str, str | bytes | None]
DeliveryCallback = Callable[[Hashable, "DeliveryError | None"], None]

SCHEMA_FINGERPRINT_HEX = SCHEMA_FINGERPRINT_BYTES.hex()  # as fastavro.schema.fingerprint(.., "CRC-64-AVRO")

# At-least-once with per-partition order needs idempotence (no duplicates or
# reordering from internal retries) and acks=all. Topics are not auto-created:
# a typo in a route's topic must be a clear error, not a new topic.
DEFAULT_PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "batch.num.messages": 10000,
    "batch.size": 1048576,
    "queue.buffering.max.messages": 500000,
    "queue.buffering.max.kbytes": 1048576,
    "allow.auto.create.topics": False,
    # The Java client's partitioner: Kafka Streams and Java producers keyed by path land on the
    # same partitions, and an empty key (an event without a path) is hashed like any other key;
    # librdkafka's default (consistent_random) spreads empty keys at random.
    "partitioner": "murmur2_random",
    "log_level": 4,
}
# Errors after which retrying the same message cannot succeed.
_PERMANENT = frozenset({
    KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD,
    KafkaError.RECORD_LIST_TOO_LARGE, KafkaError._FATAL,
})
_BACKPRESSURE_POLL_S = 0.05
_UNKNOWN_TOPIC = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)


def _load_kproducer() -> Any:
    """fastev._core.kproducer, or None (FASTEV_NO_EXTENSIONS=1, or it failed: recorded)."""
    if not _native.use_native():
        return None
    try:
        return importlib.import_module("fastev._core.kproducer")
    except ImportError as exc:
        _native.record_import_error(exc, "kproducer")
        return None


_kproducer = _load_kproducer()
IMPLEMENTATION = "native" if _kproducer is not None else "reference"


def _checked_config(producer_config: dict[str, Any]) -> dict[str, Any]:
    conf = {**DEFAULT_PRODUCER_CONFIG, **producer_config}
    if "bootstrap.servers" not in conf and "metadata.broker.list" not in conf:
        raise ConfigError("kafka producer: bootstrap.servers is required")
    if str(conf["enable.idempotence"]).lower() not in ("true", "1"):
        raise ConfigError("kafka producer: enable.idempotence must stay true (at-least-once, ordered)")
    if str(conf["acks"]).lower() not in ("all", "-1"):
        raise ConfigError("kafka producer: acks must be 'all' (required by idempotence)")
    return conf


def _fatal_error(reason: str, name: str) -> DeliveryError:
    return DeliveryError(f"fatal producer error: {reason} ({name}); nothing after the last "
                         "acknowledged message may be committed")


def _failure_text(bootstrap: str, topic: str, code: int, reason: str, name: str) -> str:
    if code in _UNKNOWN_TOPIC:
        return f"topic {topic!r} does not exist on {bootstrap} (delivery failed: {reason})"
    return f"delivery to topic {topic!r} failed: {reason} ({name})"


class _Token:
    """Delivery accounting for one caller token; also the delivery callback of its messages."""

    __slots__ = ("token", "pending", "sealed", "error", "sink", "slot")

    def __init__(self, sink: KafkaSink, token: Hashable, slot: int = -1) -> None:
        self.sink = sink
        self.token = token
        self.slot = slot  # native backend: where C counts this token's delivery reports
        self.pending = 0
        self.sealed = False
        self.error: DeliveryError | None = None

    def __call__(self, err: KafkaError | None, msg: Any) -> None:
        # Runs inside poll()/flush(); must not raise (the error is stored, raised later).
        self.pending -= 1
        sink = self.sink
        sink.in_flight -= 1
        if err is None:
            sink.delivered += 1
        else:
            sink.failed += 1
            error = sink._delivery_failure(err, msg)
            if self.error is None:
                self.error = error
        if self.sealed and self.pending == 0:
            sink._complete(self)


class KafkaSink:
    """Idempotent, acks=all producer with per-token delivery accounting.

    ``native``: None picks the native backend when it can (see the module doc), False
    forces this confluent-kafka reference, True requires the native one.
    """

    def __new__(cls, producer_config: dict[str, Any], *, native: bool | None = None, **_: Any) -> KafkaSink:
        impl = cls
        if cls is KafkaSink and native is not False:
            # Python callables in the config (error_cb, logger, stats_cb, ...) need confluent-kafka.
            scalar = all(isinstance(v, str | int | float) for v in producer_config.values())
            if _kproducer is not None and scalar:
                impl = NativeKafkaSink
            elif native:
                why = "fastev._core.kproducer is not loaded" if scalar else "the config holds Python callbacks"
                raise ConfigError(f"KafkaSink(native=True): {why}")
        return object.__new__(impl)

    def __init__(self, producer_config: dict[str, Any], *, on_delivery: DeliveryCallback | None = None,
                 strict: bool = True, metadata_timeout: float = 10.0, native: bool | None = None) -> None:
        conf = _checked_config(producer_config)
        user_error_cb = conf.pop("error_cb", None)

        def error_cb(err: KafkaError) -> None:
            if err.fatal():
                self._raise_later(_fatal_error(err.str(), err.name()))
            if user_error_cb is not None:
                user_error_cb(err)

        conf["error_cb"] = error_cb
        self._init_state(conf, on_delivery, strict, metadata_timeout)
        self._producer: Any = Producer(conf)
        self._has_batch = hasattr(self._producer, "produce_batch")

    def _init_state(self, conf: dict[str, Any], on_delivery: DeliveryCallback | None, strict: bool,
                    metadata_timeout: float) -> None:
        self.config = conf
        self.bootstrap = str(conf.get("bootstrap.servers", conf.get("metadata.broker.list")))
        self.auto_create = str(conf["allow.auto.create.topics"]).lower() in ("true", "1")
        self.strict = strict
        self.metadata_timeout = metadata_timeout
        self.on_delivery = on_delivery
        self._tokens: dict[Hashable, _Token] = {}
        self._known_topics: set[str] = set()
        self._error: DeliveryError | None = None
        self.in_flight = 0       # queued, no delivery report yet
        self.delivered = 0       # successful delivery reports
        self.failed = 0          # failed delivery reports
        self.backpressure = 0    # times a full queue made send() wait
        self.closed = False

    # -- sending ------------------------------------------------------------------------------
    def send(self, topic: str, payloads: Sequence[bytes], keys: Sequence[str | bytes | None] | None = None,
             headers_list: Sequence[list[Header] | None] | None = None,
             tokens: Sequence[Hashable] | None = None, *, token: Hashable = None) -> int:
        """Queue ``payloads`` for ``topic``; returns the number queued (all of them, or it raises).

        ``tokens`` gives one token per message; ``token`` one for all of them. A full
        producer queue blocks here (serving delivery reports) until there is room.
        """
        self._check()
        n = len(payloads)
        if n == 0:
            return 0
        if topic not in self._known_topics:
            self.ensure_topic(topic)
        if keys is not None and len(keys) != n:
            raise ValueError(f"send: {len(keys)} keys for {n} payloads")
        if headers_list is not None and len(headers_list) != n:
            raise ValueError(f"send: {len(headers_list)} header lists for {n} payloads")
        if tokens is not None and len(tokens) != n:
            raise ValueError(f"send: {len(tokens)} tokens for {n} payloads")
        self._queue(topic, payloads, keys, headers_list, tokens, token)
        self._check()
        return n

    def _queue(self, topic: str, payloads: Sequence[bytes], keys: Sequence[Any] | None,
               headers_list: Sequence[list[Header] | None] | None, tokens: Sequence[Hashable] | None,
               token: Hashable) -> None:
        callbacks = self._callbacks(len(payloads), tokens, token)
        if headers_list is None and self._has_batch:
            self._send_batch(topic, payloads, keys, callbacks)
        else:
            self._send_each(topic, payloads, keys, headers_list, callbacks)

    def _resolve(self, tokens: Sequence[Hashable]) -> list[_Token]:
        """One _Token per message, every one resolved (a sealed one raises) before anything
        is counted or queued: all or nothing."""
        out = []
        prev: Hashable = object()
        cur: _Token | None = None
        for tok in tokens:
            if cur is None or tok != prev:
                cur = self._token(tok)
                prev = tok
            out.append(cur)
        return out

    def _callbacks(self, n: int, tokens: Sequence[Hashable] | None, token: Hashable) -> list[_Token]:
        out = self._resolve(tokens) if tokens is not None else [self._token(token)] * n
        for t in out:
            t.pending += 1
        self.in_flight += n
        return out

    def _token(self, token: Hashable) -> _Token:
        t = self._tokens.get(token)
        if t is None:
            t = self._tokens[token] = self._new_token(token)
        elif t.sealed:
            raise DeliveryError(f"token {token!r} was sealed; no more messages may be sent for it")
        return t

    def _new_token(self, token: Hashable) -> _Token:
        return _Token(self, token)

    def _send_each(self, topic: str, payloads: Sequence[bytes], keys: Sequence[Any] | None,
                   headers_list: Sequence[list[Header] | None] | None, callbacks: list[_Token]) -> None:
        produce = self._producer.produce
        for i, value in enumerate(payloads):
            key = keys[i] if keys is not None else None
            headers = headers_list[i] if headers_list is not None else None
            while True:
                try:
                    if headers:
                        produce(topic, value, key, headers=headers, on_delivery=callbacks[i])
                    else:
                        produce(topic, value, key, on_delivery=callbacks[i])
                    break
                except BufferError:
                    self._wait_for_room()
                except KafkaException as exc:
                    self._unqueued(callbacks[i:])
                    raise self._produce_error(topic, exc.args[0], len(value)) from None

    def _send_batch(self, topic: str, payloads: Sequence[bytes], keys: Sequence[Any] | None,
                    callbacks: list[_Token]) -> None:
        msgs: list[dict[str, Any]]
        if keys is None:
            msgs = [{"value": v, "callback": cb} for v, cb in zip(payloads, callbacks, strict=True)]
        else:
            msgs = [{"value": v, "key": k, "callback": cb}
                    for v, k, cb in zip(payloads, keys, callbacks, strict=True)]
        while msgs:
            try:
                queued = self._producer.produce_batch(topic, msgs)
            except BufferError:
                self._wait_for_room()
                continue
            if queued == len(msgs):
                return
            # Failed messages carry "_error"; a full queue is backpressure, anything else fatal.
            failed = [m for m in msgs if "_error" in m]
            if not failed:  # never seen; do not guess which messages were queued
                raise DeliveryError(f"topic {topic!r}: produce_batch queued {queued} of {len(msgs)} "
                                    "messages without reporting which failed")
            hard = [m for m in failed if m["_error"].code() != KafkaError._QUEUE_FULL]
            if hard:
                self._unqueued(m["callback"] for m in failed)
                raise self._produce_error(topic, hard[0]["_error"], len(hard[0]["value"]))
            for m in failed:
                del m["_error"]
            msgs = failed
            self._wait_for_room()

    def _wait_for_room(self) -> None:
        """Backpressure: the local queue is full; serve delivery reports until some leave it."""
        self.backpressure += 1
        self._producer.poll(_BACKPRESSURE_POLL_S)
        self._check()

    def _unqueued(self, callbacks: Iterable[_Token]) -> None:
        for cb in callbacks:
            cb.pending -= 1
            self.in_flight -= 1

    def _produce_error(self, topic: str, err: Any, size: int) -> DeliveryError:
        code = err.code() if isinstance(err, KafkaError) else None
        if code == KafkaError.MSG_SIZE_TOO_LARGE:
            return DeliveryError(f"topic {topic!r}: a {size}-byte message exceeds message.max.bytes "
                                 f"({self.config.get('message.max.bytes', 1000000)})")
        return DeliveryError(f"topic {topic!r}: cannot queue message: {err}")

    def ensure_topic(self, topic: str) -> None:
        """Fail fast, with a clear error, when ``topic`` does not exist and auto-creation is off."""
        err = self._topic_error(topic)
        if err is None or err in _UNKNOWN_TOPIC:
            hint = ("create it first, or set allow.auto.create.topics=true in the producer config"
                    if not self.auto_create else "the broker did not auto-create it")
            raise DeliveryError(f"topic {topic!r} does not exist on {self.bootstrap}: {hint}")
        if err == KafkaError.TOPIC_AUTHORIZATION_FAILED:
            raise DeliveryError(f"topic {topic!r}: not authorized to produce")
        self._known_topics.add(topic)

    def _topic_error(self, topic: str) -> int | None:
        """The broker's error code for ``topic`` (0: fine), None when it did not list it."""
        try:
            md = self._producer.list_topics(topic, timeout=self.metadata_timeout)
        except KafkaException as exc:
            raise DeliveryError(f"cannot reach the Kafka cluster at {self.bootstrap} to look up topic "
                                f"{topic!r}: {exc.args[0]}") from None
        t = md.topics.get(topic)
        if t is None:
            return None
        return 0 if t.error is None else int(t.error.code())

    # -- delivery accounting ------------------------------------------------------------------
    def seal(self, *tokens: Hashable) -> None:
        """No more messages will be sent for these tokens; report each once all are delivered.

        Sending for a sealed token raises until it is reported; after that the token is
        forgotten (memory stays bounded) and a later send starts a new account for it.
        """
        for token in tokens:
            t = self._tokens.get(token)
            if t is None:
                t = self._tokens[token] = self._new_token(token)
            if t.sealed:
                continue
            t.sealed = True
            if self._nothing_pending(t):
                self._complete(t)

    def _nothing_pending(self, t: _Token) -> bool:
        return t.pending == 0

    def pending(self, token: Hashable) -> int:
        """Messages of ``token`` still waiting for a delivery report (0 when unknown or done)."""
        t = self._tokens.get(token)
        return t.pending if t is not None else 0

    def _complete(self, t: _Token) -> None:
        del self._tokens[t.token]
        if self.on_delivery is not None:
            try:
                self.on_delivery(t.token, t.error)
            except Exception as exc:  # noqa: BLE001 - never unwind through librdkafka's callback
                self._raise_later(DeliveryError(f"on_delivery callback failed for {t.token!r}: {exc!r}"),
                                  cause=exc)

    def _delivery_failure(self, err: KafkaError, msg: Any) -> DeliveryError:
        topic = msg.topic() if msg is not None else "?"
        error = DeliveryError(_failure_text(self.bootstrap, topic, err.code(), err.str(), err.name()))
        if self.strict or err.fatal() or err.code() in _PERMANENT:
            self._raise_later(error)
        return error

    def _raise_later(self, error: DeliveryError, cause: BaseException | None = None) -> None:
        if cause is not None:
            error.__cause__ = cause
        if self._error is None:
            self._error = error

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    @property
    def error(self) -> DeliveryError | None:
        """The first failure seen (raised by the next send/poll/flush), or None."""
        return self._error

    # -- driving ------------------------------------------------------------------------------
    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery reports; returns how many were served."""
        served: int = self._producer.poll(timeout)
        self._check()
        return served

    def flush(self, timeout: float | None = None) -> int:
        """Wait for every queued message's delivery report; returns how many are still queued.

        Raises DeliveryError when something failed, or when messages are still queued at
        the timeout (they are not lost: a later flush may still deliver them).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = self._producer.flush(1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic())))
            self._check()
            if left == 0:
                return 0
            if deadline is not None and time.monotonic() >= deadline:
                raise DeliveryError(f"flush: {left} message(s) still queued for {self.bootstrap} "
                                    f"after {timeout:g} s")

    def __len__(self) -> int:
        """Messages in the local queue (including those awaiting a delivery report)."""
        return len(self._producer)

    @property
    def producer(self) -> Any:
        return self._producer

    def close(self, timeout: float = 30.0) -> None:
        """Flush, then release the producer. Raises DeliveryError if delivery failed."""
        if self.closed:
            return
        try:
            self.flush(timeout)
        finally:
            self.closed = True

    def __enter__(self) -> KafkaSink:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.closed = True


def _librdkafka_value(value: Any) -> str:
    # What confluent-kafka hands rd_kafka_conf_set: bools as true/false, numbers as text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class NativeKafkaSink(KafkaSink):
    """KafkaSink on ``fastev._core.kproducer``: same API, accounting and errors, produced from C.

    A token's messages are counted in C under its slot; ``_check`` (run after every
    producer call, as in the reference) syncs the counters and reports, once per sealed
    token whose messages all have delivery reports, through the shared ``_complete``.
    """

    def __init__(self, producer_config: dict[str, Any], *, on_delivery: DeliveryCallback | None = None,
                 strict: bool = True, metadata_timeout: float = 10.0, native: bool | None = None) -> None:
        conf = _checked_config(producer_config)
        self._init_state(conf, on_delivery, strict, metadata_timeout)
        self._by_slot: dict[int, _Token] = {}
        self._producer = _kproducer.Producer({k: _librdkafka_value(v) for k, v in conf.items()},
                                             strict, tuple(_PERMANENT))

    def _queue(self, topic: str, payloads: Sequence[bytes], keys: Sequence[Any] | None,
               headers_list: Sequence[list[Header] | None] | None, tokens: Sequence[Hashable] | None,
               token: Hashable) -> None:
        slots: int | list[int]
        slots = self._token(token).slot if tokens is None else [t.slot for t in self._resolve(tokens)]
        ce = subjects = None
        if isinstance(headers_list, CloudEventHeaderList):  # build them in C, from payload and path
            spec = headers_list.ce
            if spec.native_spec is None:
                spec.native_spec = _kproducer.CloudEvents(spec.source_uris, spec.types, spec.start,
                                                          [spec.content_type, spec.fingerprint])
            ce, subjects = spec.native_spec, headers_list.batch.paths(headers_list.route)
        n, done = len(payloads), 0
        while True:
            done = self._producer.produce(topic, payloads, keys, headers_list, slots, done, ce, subjects)
            if done == n:
                return
            code = self._producer.last_error
            self._collect()
            if code == _kproducer.BAD_EVENT:
                raise ValueError(f"send: payload {done} is not an Avro StorageEvent; its CloudEvents "
                                 "headers cannot be read from it")
            if code != _kproducer.QUEUE_FULL:
                raise self._queue_error(topic, code, len(payloads[done] or b""))
            self._wait_for_room()

    def _queue_error(self, topic: str, code: int, size: int) -> DeliveryError:
        if code == KafkaError.MSG_SIZE_TOO_LARGE:
            return DeliveryError(f"topic {topic!r}: a {size}-byte message exceeds message.max.bytes "
                                 f"({self.config.get('message.max.bytes', 1000000)})")
        return DeliveryError(f"topic {topic!r}: cannot queue message: {_kproducer.err2str(code)} "
                             f"({_kproducer.err2name(code)})")

    def _topic_error(self, topic: str) -> int | None:
        err, topic_err = self._producer.topic_metadata(topic, self.metadata_timeout)
        if err:
            raise DeliveryError(f"cannot reach the Kafka cluster at {self.bootstrap} to look up topic "
                                f"{topic!r}: {_kproducer.err2str(err)} ({_kproducer.err2name(err)})")
        return None if topic_err is None else int(topic_err)

    def _new_token(self, token: Hashable) -> _Token:
        t = _Token(self, token, self._producer.new_slot())
        self._by_slot[t.slot] = t
        return t

    def _nothing_pending(self, t: _Token) -> bool:
        return bool(self._producer.seal(t.slot))

    def pending(self, token: Hashable) -> int:
        t = self._tokens.get(token)
        return int(self._producer.pending(t.slot)) if t is not None else 0

    def _complete(self, t: _Token) -> None:
        del self._by_slot[t.slot]
        self._producer.free_slot(t.slot)
        super()._complete(t)

    def _failure(self, code: int, topic: str) -> DeliveryError:
        return DeliveryError(_failure_text(self.bootstrap, topic, code, _kproducer.err2str(code),
                                           _kproducer.err2name(code)))

    def _check(self) -> None:
        self._collect()
        super()._check()

    def _collect(self) -> None:
        p = self._producer
        self.in_flight, self.delivered, self.failed = p.in_flight, p.delivered, p.failed
        news = p.collect()  # None unless a token completed or something failed: the common case
        if news is not None:
            fatal, failure, done = news
            if fatal is not None:
                self._raise_later(_fatal_error(fatal[1], _kproducer.err2name(fatal[0])))
            if failure is not None:  # the first failure the reference would raise (strict/permanent)
                self._raise_later(self._failure(*failure))
            for slot in done:
                t = self._by_slot[slot]
                first = p.slot_error(slot)
                if first is not None:
                    t.error = self._failure(*first)
                self._complete(t)


# -- CloudEvents binary mode (https://github.com/cloudevents/spec kafka-protocol-binding.md §3.2) --

def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Avro zig-zag varint at ``pos`` -> (value, next position)."""
    b = buf[pos]
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    result = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = buf[pos]
        result |= (b & 0x7F) << shift
        pos += 1
        if b < 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("Avro varint longer than 10 bytes")


def read_event_head(payload: bytes, start: int = 0) -> tuple[str, int, int, str, int]:
    """(id, source ordinal, kind ordinal, raw_type, time_us) from an Avro ``StorageEvent``.

    Reads only the first five fields (docs/formats.md §1 order); ``start`` skips a framing
    prefix (5 for Confluent framing). Short lengths and enum indexes are one varint
    byte, read inline; anything longer takes the general path.
    """
    pos = start
    n = payload[pos]
    if n < 0x80:
        pos += 1
        n >>= 1  # lengths are never negative
    else:
        n, pos = _varint(payload, pos)
    event_id = payload[pos:pos + n].decode("ascii")
    pos += n
    source = payload[pos]
    kind = payload[pos + 1]
    if source < 0x80 and kind < 0x80:
        source >>= 1
        kind >>= 1
        pos += 2
    else:
        source, pos = _varint(payload, pos)
        kind, pos = _varint(payload, pos)
    n = payload[pos]
    if n < 0x80:
        pos += 1
        n >>= 1
    else:
        n, pos = _varint(payload, pos)
    raw_type = payload[pos:pos + n].decode("utf-8")
    time_us, _ = _varint(payload, pos + n)
    return event_id, source, kind, raw_type, time_us


_EPOCH_DAYS_CACHE: dict[int, str] = {}
_last_second: list[Any] = [None, ""]  # one-entry cache: events come in bursts within a second


def rfc3339_us(time_us: int) -> str:
    """UTC microseconds -> ``2026-02-11T08:14:05.310000Z`` (RFC 3339)."""
    seconds, micros = divmod(time_us, 1_000_000)
    if seconds == _last_second[0]:
        return f"{_last_second[1]}{micros:06d}Z"
    days, sod = divmod(seconds, 86400)
    date = _EPOCH_DAYS_CACHE.get(days)
    if date is None:
        date = _civil_from_days(days)
        if len(_EPOCH_DAYS_CACHE) > 4096:
            _EPOCH_DAYS_CACHE.clear()
        _EPOCH_DAYS_CACHE[days] = date
    h, rem = divmod(sod, 3600)
    m, s = divmod(rem, 60)
    prefix = f"{date}T{h:02d}:{m:02d}:{s:02d}."
    _last_second[0], _last_second[1] = seconds, prefix
    return f"{prefix}{micros:06d}Z"


def _civil_from_days(z: int) -> str:
    # Howard Hinnant's days_from_civil inverse: proleptic Gregorian, any year.
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y += m <= 2
    return f"{y:04d}-{m:02d}-{d:02d}"


_SPECVERSION: Header = ("ce_specversion", "1.0")


class CloudEventHeaders:
    """Builds the CloudEvents binary-mode Kafka headers of one Avro route message.

    ``ce_source`` defaults to ``urn:fastev:<decoder name>`` (e.g. ``urn:fastev:dcache-billing``);
    pass ``source_uri`` to name the emitting site/system instead.
    """

    __slots__ = ("source_uris", "types", "start", "content_type", "fingerprint", "native_spec")

    def __init__(self, source_uri: str | None = None, *, framing: str = "avro",
                 type_prefix: str = "org.fastev.storage.") -> None:
        if framing not in ("avro", "confluent"):
            raise ConfigError(f"CloudEvents headers: framing {framing!r} is not 'avro' or 'confluent'")
        self.source_uris = tuple(source_uri or f"urn:fastev:{name}" for name in DECODER_NAMES)
        self.types = tuple(type_prefix + k for k in KINDS)
        self.start = 5 if framing == "confluent" else 0
        self.content_type: Header = ("content-type", "application/avro")
        self.fingerprint: Header = ("fastev_schema_fingerprint", SCHEMA_FINGERPRINT_HEX)
        self.native_spec: Any = None  # kproducer.CloudEvents, made by the first NativeKafkaSink use

    def __call__(self, payload: bytes, path: str | None = None) -> list[Header]:
        event_id, source, kind, _raw_type, time_us = read_event_head(payload, self.start)
        if path:  # CloudEvents: subject, when present, must be non-empty
            return [_SPECVERSION, ("ce_id", event_id), ("ce_source", self.source_uris[source]),
                    ("ce_type", self.types[kind]), ("ce_time", rfc3339_us(time_us)), ("ce_subject", path),
                    self.content_type, self.fingerprint]
        return [_SPECVERSION, ("ce_id", event_id), ("ce_source", self.source_uris[source]),
                ("ce_type", self.types[kind]), ("ce_time", rfc3339_us(time_us)),
                self.content_type, self.fingerprint]

    def many(self, payloads: Sequence[bytes], paths: Sequence[str]) -> list[list[Header]]:
        return [self(p, path) for p, path in zip(payloads, paths, strict=True)]

    def for_route(self, batch: Any, route: str) -> CloudEventHeaderList:
        """The headers of every message of a RouteBatch route, built when first read."""
        return CloudEventHeaderList(self, batch, route)

    def build_route(self, batch: Any, route: str) -> list[list[Header]]:
        """The headers of every message of a RouteBatch route; native when the codec is."""
        native = getattr(batch, "ce_headers", None)
        if native is not None:
            headers: list[list[Header]] = native(route, self.source_uris, self.types, self.start,
                                                 [self.content_type, self.fingerprint])
            return headers
        return self.many(batch.payloads(route), batch.paths(route))


class CloudEventHeaderList(Sequence[list[Header]]):
    """A route's CloudEvents headers, one list per message, built on first read.

    Header lists cost more Python objects than the message itself; NativeKafkaSink never
    builds them: it writes the same headers in C from each payload and path while producing.
    Anyone else reading it (the reference sink, tests) gets ``build_route``'s lists.
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



# -- dead letters ------------------------------------------------------------------------------

DEAD_LETTER_MAX_VALUE = 512 * 1024  # well under librdkafka's default message.max.bytes (1,000,000)


def dead_letter_message(error: DecodeError, *, source: str | None = None, offset: int | None = None,
                        max_value: int = DEAD_LETTER_MAX_VALUE) -> tuple[bytes, list[Header]]:
    """(value, headers) of the dead-letter message for one rejected record.

    The value is the original bytes; a record longer than ``max_value`` (or one the
    decoder kept only a prefix of, ``too-large``) goes as a bounded prefix with
    ``fastev_truncated``, its ``fastev_length`` where known, and a SHA-256 of what is kept.
    """
    raw = bytes(error.raw)
    headers: list[Header] = [
        ("fastev_reason", error.reason),
        ("fastev_field", error.field or ""),
        ("fastev_source", source or error.source),
        ("fastev_offset", str(error.offset if offset is None else offset)),
        ("fastev_index", str(error.index)),
        ("fastev_line", str(error.line)),
        ("fastev_message", error.message),
    ]
    if len(raw) > max_value or error.reason == "too-large":
        headers += [("fastev_truncated", "1"), ("fastev_length", str(len(raw)) if error.reason != "too-large"
                                                 else "unknown"),
                    ("fastev_sha256", hashlib.sha256(raw).hexdigest())]
        raw = raw[:max_value]
    return raw, headers
