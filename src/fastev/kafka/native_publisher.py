"""KafkaPublisher on ``fastev._core.kproducer``: librdkafka driven from C, headers built in C."""
from __future__ import annotations

import importlib
import logging
from collections.abc import Hashable, Sequence
from typing import Any

from confluent_kafka import KafkaError

from .. import _native
from ..errors import DeliveryError
from .cloudevents import CloudEventHeaderList
from .producer_config import PERMANENT_ERRORS, checked_config, librdkafka_value
from .publisher import Header, KafkaPublisher
from .tokens import DeliveryCallback, DeliveryToken, failure_text, fatal_error

__all__ = ("NativeKafkaPublisher", "IMPLEMENTATION", "kproducer")


def _load_kproducer() -> Any:
    """fastev._core.kproducer, or None: FASTEV_NO_EXTENSIONS=1, or it could not bind exactly the
    librdkafka confluent-kafka uses (then one log line says why, and the reference publishes)."""
    if not _native.use_native():
        return None
    try:
        return importlib.import_module("fastev._core.kproducer")
    except ImportError as exc:
        _native.record_import_error(exc, "kproducer")
        logging.getLogger("fastev.kafka").warning("native Kafka producer disabled (%s); publishing through "
                                                  "confluent-kafka's producer", exc)
        return None


kproducer = _load_kproducer()
IMPLEMENTATION = "native" if kproducer is not None else "reference"


class NativeKafkaPublisher(KafkaPublisher):
    """KafkaPublisher on ``fastev._core.kproducer``: same API, accounting and errors, produced from C.

    A token's messages are counted in C under its slot; ``_check`` (run after every
    producer call, as in the reference) syncs the counters and reports, once per sealed
    token whose messages all have delivery reports, through the shared ``_complete``.
    """

    def __init__(self, producer_config: dict[str, Any], *, on_delivery: DeliveryCallback | None = None,
                 strict: bool = True, metadata_timeout: float = 10.0, native: bool | None = None) -> None:
        conf = checked_config(producer_config)
        self._init_state(conf, on_delivery, strict, metadata_timeout)
        self._by_slot: dict[int, DeliveryToken] = {}
        self._producer = kproducer.Producer({k: librdkafka_value(v) for k, v in conf.items()},
                                             strict, tuple(PERMANENT_ERRORS))

    def _queue(self, topic: str, payloads: Sequence[bytes], keys: Sequence[Any] | None,
               headers_list: Sequence[list[Header] | None] | None, tokens: Sequence[Hashable] | None,
               token: Hashable) -> None:
        slots: int | list[int]
        slots = self._token(token).slot if tokens is None else [t.slot for t in self._resolve(tokens)]
        ce = subjects = spec = None
        if isinstance(headers_list, CloudEventHeaderList):  # build them in C, from payload and path
            spec = headers_list.ce
            if spec.native_spec is None:
                spec.native_spec = kproducer.CloudEvents(spec.source_uris, spec.types, spec.start, spec.layout,
                                                         spec.tail)
            ce, subjects = spec.native_spec, headers_list.batch.paths(headers_list.route)
        n, done = len(payloads), 0
        while True:
            done = self._producer.produce(topic, payloads, keys, headers_list, slots, done, ce, subjects)
            if done == n:
                return
            code = self._producer.last_error
            self._collect()
            if code == kproducer.BAD_EVENT and spec is not None:  # the Python-visible builder says why
                try:
                    spec(payloads[done], None)
                except ValueError as exc:
                    raise ValueError(f"send: {exc} (message {done})") from None
                raise ValueError(f"send: CloudEvents headers of message {done} cannot be read")
            if code != kproducer.QUEUE_FULL:
                raise self._queue_error(topic, code, len(payloads[done] or b""))
            self._wait_for_room()

    def _queue_error(self, topic: str, code: int, size: int) -> DeliveryError:
        if code == KafkaError.MSG_SIZE_TOO_LARGE:
            return DeliveryError(f"topic {topic!r}: a {size}-byte message exceeds message.max.bytes "
                                 f"({self.config.get('message.max.bytes', 1000000)})")
        return DeliveryError(f"topic {topic!r}: cannot queue message: {kproducer.err2str(code)} "
                             f"({kproducer.err2name(code)})")

    def _lookup(self, topic: str, timeout: float) -> tuple[str | None, int | None]:
        err, topic_err = self._producer.topic_metadata(topic, timeout)
        self._log.emit_all(self._producer.drain_logs())
        if err:
            return f"{kproducer.err2str(err)} ({kproducer.err2name(err)})", None
        return None, None if topic_err is None else int(topic_err)

    def _connection_reason(self) -> str | None:
        problem = self._producer.connection_error()
        if problem is None:
            return None
        code, reason, _all_down = problem
        return reason if code else "all brokers are down"

    def _clear_connection_reason(self) -> None:
        self._producer.clear_connection_error()

    def _new_token(self, token: Hashable) -> DeliveryToken:
        t = DeliveryToken(self, token, self._producer.new_slot())
        self._by_slot[t.slot] = t
        return t

    def _nothing_pending(self, t: DeliveryToken) -> bool:
        return bool(self._producer.seal(t.slot))

    def pending(self, token: Hashable) -> int:
        t = self._tokens.get(token)
        return int(self._producer.pending(t.slot)) if t is not None else 0

    def _complete(self, t: DeliveryToken) -> None:
        del self._by_slot[t.slot]
        self._producer.free_slot(t.slot)
        super()._complete(t)

    def _failure(self, code: int, topic: str) -> DeliveryError:
        return DeliveryError(failure_text(self.bootstrap, topic, code, kproducer.err2str(code),
                                           kproducer.err2name(code)))

    def _check(self) -> None:
        self._collect()
        super()._check()

    def _collect(self) -> None:
        p = self._producer
        self._log.emit_all(p.drain_logs())
        self.in_flight, self.delivered, self.failed = p.in_flight, p.delivered, p.failed
        news = p.collect()  # None unless a token completed or something failed: the common case
        if news is not None:
            fatal, failure, done = news
            if fatal is not None:
                self._raise_later(fatal_error(fatal[1], kproducer.err2name(fatal[0])))
            if failure is not None:  # the first failure the reference would raise (strict/permanent)
                self._raise_later(self._failure(*failure))
            for slot in done:
                t = self._by_slot[slot]
                first = p.slot_error(slot)
                if first is not None:
                    t.error = self._failure(*first)
                self._complete(t)
