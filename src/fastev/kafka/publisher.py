"""The Kafka publisher: an idempotent confluent-kafka producer whose every delivery report is checked.

``KafkaPublisher.send(topic, payloads, keys, headers_list, tokens)`` queues messages and
tags each with a caller-supplied opaque *token* (e.g. a source position). Once the
caller has sent everything derived from a token it calls ``seal(token)``; when
every message of a sealed token has its delivery report, ``on_delivery(token,
error)`` fires once (``error`` is None on success). That is what lets a pipeline
commit a source position only after everything derived from it is acknowledged.

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
- Native backend: ``KafkaPublisher(...)`` gives a ``NativeKafkaPublisher``
  (fastev.kafka.native_publisher) when ``fastev._core.kproducer`` loaded and the
  config holds no Python callbacks: same API and accounting, produced from C.
  This confluent-kafka class stays the reference.
"""
from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from ..errors import ConfigError, DeliveryError
from .librdkafka_log import ConfluentLogger, ConnectionWatch, RateLimitedLog, lookup_topic
from .producer_config import PERMANENT_ERRORS, UNKNOWN_TOPIC_ERRORS, checked_config
from .tokens import DeliveryCallback, DeliveryToken, failure_text, fatal_error

__all__ = ("KafkaPublisher", "Header")

Header = tuple[str, str | bytes | None]
_BACKPRESSURE_POLL_S = 0.05


def _materialised(headers_list: Sequence[Any]) -> Sequence[Any]:
    """Lazily built header lists (CloudEventHeaderList) built now, before anything is counted."""
    items = getattr(headers_list, "items", None)
    if callable(items) and not isinstance(headers_list, dict):
        try:
            built: Sequence[Any] = items()
        except ValueError as exc:
            raise ValueError(f"send: {exc}") from None
        return built
    return headers_list


class KafkaPublisher:
    """Idempotent, acks=all producer with per-token delivery accounting.

    ``native``: None picks the native backend when it can (see the module doc), False
    forces this confluent-kafka reference, True requires the native one.
    """

    def __new__(cls, producer_config: dict[str, Any], *, native: bool | None = None, **_: Any) -> KafkaPublisher:
        impl = cls
        if cls is KafkaPublisher and native is not False:
            from .native_publisher import NativeKafkaPublisher, kproducer  # it subclasses this one

            # Python callables in the config (error_cb, logger, stats_cb, ...) need confluent-kafka.
            scalar = all(isinstance(v, str | int | float) for v in producer_config.values())
            if kproducer is not None and scalar:
                impl = NativeKafkaPublisher
            elif native:
                why = "fastev._core.kproducer is not loaded" if scalar else "the config holds Python callbacks"
                raise ConfigError(f"KafkaPublisher(native=True): {why}")
        return object.__new__(impl)

    def __init__(self, producer_config: dict[str, Any], *, on_delivery: DeliveryCallback | None = None,
                 strict: bool = True, metadata_timeout: float = 10.0, native: bool | None = None) -> None:
        conf = checked_config(producer_config)
        user_error_cb = conf.pop("error_cb", None)

        def error_cb(err: KafkaError) -> None:
            if err.fatal():
                self._raise_later(fatal_error(err.str(), err.name()))
            self._watch.note(err.code(), err.str())
            if user_error_cb is not None:
                user_error_cb(err)

        conf["error_cb"] = error_cb
        self._init_state(conf, on_delivery, strict, metadata_timeout)
        conf.setdefault("logger", ConfluentLogger(self._log))  # not librdkafka's stderr
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
        self._tokens: dict[Hashable, DeliveryToken] = {}
        self._known_topics: set[str] = set()
        self._error: DeliveryError | None = None
        self.in_flight = 0       # queued, no delivery report yet
        self.delivered = 0       # successful delivery reports
        self.failed = 0          # failed delivery reports
        self.backpressure = 0    # times a full queue made send() wait
        self.closed = False
        self._watch = ConnectionWatch()  # why the brokers cannot be reached, if so (reference backend)
        self._log = RateLimitedLog(own_levels="debug" in conf)

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
        if headers_list is not None:
            headers_list = _materialised(headers_list)  # a payload without readable headers raises here
        callbacks = self._callbacks(len(payloads), tokens, token)
        if headers_list is None and self._has_batch:
            self._send_batch(topic, payloads, keys, callbacks)
        else:
            self._send_each(topic, payloads, keys, headers_list, callbacks)

    def _resolve(self, tokens: Sequence[Hashable]) -> list[DeliveryToken]:
        """One DeliveryToken per message, every one resolved (a sealed one raises) before anything
        is counted or queued: all or nothing."""
        out = []
        prev: Hashable = object()
        cur: DeliveryToken | None = None
        for tok in tokens:
            if cur is None or tok != prev:
                cur = self._token(tok)
                prev = tok
            out.append(cur)
        return out

    def _callbacks(self, n: int, tokens: Sequence[Hashable] | None, token: Hashable) -> list[DeliveryToken]:
        out = self._resolve(tokens) if tokens is not None else [self._token(token)] * n
        for t in out:
            t.pending += 1
        self.in_flight += n
        return out

    def _token(self, token: Hashable) -> DeliveryToken:
        t = self._tokens.get(token)
        if t is None:
            t = self._tokens[token] = self._new_token(token)
        elif t.sealed:
            raise DeliveryError(f"token {token!r} was sealed; no more messages may be sent for it")
        return t

    def _new_token(self, token: Hashable) -> DeliveryToken:
        return DeliveryToken(self, token)

    def _send_each(self, topic: str, payloads: Sequence[bytes], keys: Sequence[Any] | None,
                   headers_list: Sequence[list[Header] | None] | None, callbacks: list[DeliveryToken]) -> None:
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
                    callbacks: list[DeliveryToken]) -> None:
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

    def _unqueued(self, callbacks: Iterable[DeliveryToken]) -> None:
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
        if err is None or err in UNKNOWN_TOPIC_ERRORS:
            hint = ("create it first, or set allow.auto.create.topics=true in the producer config"
                    if not self.auto_create else "the broker did not auto-create it")
            raise DeliveryError(f"topic {topic!r} does not exist on {self.bootstrap}: {hint}")
        if err == KafkaError.TOPIC_AUTHORIZATION_FAILED:
            raise DeliveryError(f"topic {topic!r}: not authorized to produce")
        self._known_topics.add(topic)

    def _topic_error(self, topic: str) -> int | None:
        """The broker's error code for ``topic`` (0: fine), None when it did not list it; an
        unreachable cluster is one DeliveryError within a few seconds (librdkafka_log.lookup_topic)."""
        def lookup(step: float) -> tuple[str | None, int | None]:
            failure, topic_err = self._lookup(topic, step)
            if failure is None:
                self._clear_connection_reason()
            return failure, topic_err

        return lookup_topic(lookup, self._serve_errors, self._connection_reason, self.bootstrap, topic,
                            self.metadata_timeout)

    def _lookup(self, topic: str, timeout: float) -> tuple[str | None, int | None]:
        """One metadata request: (why it failed or None, the topic's error code or None)."""
        try:
            md = self._producer.list_topics(topic, timeout=timeout)
        except KafkaException as exc:
            return str(exc.args[0]), None
        t = md.topics.get(topic)
        if t is None:
            return None, None
        return None, 0 if t.error is None else int(t.error.code())

    def _serve_errors(self) -> None:
        """Run the error callback for what librdkafka reported (it only runs inside poll)."""
        self._producer.poll(0)

    def _connection_reason(self) -> str | None:
        return self._watch.reason()

    def _clear_connection_reason(self) -> None:
        self._watch.clear()

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

    def _nothing_pending(self, t: DeliveryToken) -> bool:
        return t.pending == 0

    def pending(self, token: Hashable) -> int:
        """Messages of ``token`` still waiting for a delivery report (0 when unknown or done)."""
        t = self._tokens.get(token)
        return t.pending if t is not None else 0

    def _complete(self, t: DeliveryToken) -> None:
        del self._tokens[t.token]
        if self.on_delivery is not None:
            try:
                self.on_delivery(t.token, t.error)
            except Exception as exc:  # noqa: BLE001 - never unwind through librdkafka's callback
                self._raise_later(DeliveryError(f"on_delivery callback failed for {t.token!r}: {exc!r}"),
                                  cause=exc)

    def _delivery_failure(self, err: KafkaError, msg: Any) -> DeliveryError:
        topic = msg.topic() if msg is not None else "?"
        error = DeliveryError(failure_text(self.bootstrap, topic, err.code(), err.str(), err.name()))
        if self.strict or err.fatal() or err.code() in PERMANENT_ERRORS:
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

    def __enter__(self) -> KafkaPublisher:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.closed = True
