"""librdkafka's log through fastev's logging, rate-limited, and broker connection trouble in one line.

Left alone, librdkafka prints every failed connection attempt to stderr (an unreachable broker:
~190 ``FAIL`` lines in 10 s). Both publishers hand its log lines to the ``fastev.kafka.librdkafka``
logger instead: at DEBUG, unless the producer config sets librdkafka's own ``debug`` property
(then at their own level), and at most ``BURST`` lines per ``WINDOW_S`` seconds (the rest are
counted in one summary line). What a user needs, which servers could not be reached, is said
once by the publisher (``unreachable_text``).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException

from ..errors import DeliveryError

__all__ = ("LOGGER", "RateLimitedLog", "ConfluentLogger", "CONNECTION_ERRORS", "unreachable_text", "lookup_topic",
           "ConnectionWatch", "watched_client_config", "client_topic_metadata")

T = TypeVar("T")

LOGGER = logging.getLogger("fastev.kafka.librdkafka")
BURST = 20
WINDOW_S = 10.0
# Errors that mean "cannot talk to the brokers" (not about one message or topic).
CONNECTION_ERRORS = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE})
# syslog levels (librdkafka's) -> logging levels
_LEVELS = {0: logging.CRITICAL, 1: logging.CRITICAL, 2: logging.CRITICAL, 3: logging.ERROR, 4: logging.WARNING,
           5: logging.INFO, 6: logging.INFO, 7: logging.DEBUG}


class RateLimitedLog:
    """At most BURST lines per WINDOW_S seconds to LOGGER; the suppressed ones are counted and
    summarised when the next window opens. Thread-safe (confluent-kafka logs from its threads)."""

    def __init__(self, own_levels: bool = False) -> None:
        self.own_levels = own_levels  # the user asked (librdkafka "debug" set): keep their levels
        self._lock = threading.Lock()
        self._window = -1.0
        self._sent = 0
        self._suppressed = 0

    def emit(self, syslog_level: int, facility: str, text: str, dropped: int = 0) -> None:
        level = _LEVELS.get(syslog_level, logging.DEBUG) if self.own_levels else logging.DEBUG
        with self._lock:
            now = time.monotonic()
            self._suppressed += dropped
            if now - self._window >= WINDOW_S:
                if self._suppressed:
                    LOGGER.log(level, "librdkafka: %d more log line(s) suppressed", self._suppressed)
                self._window, self._sent, self._suppressed = now, 0, 0
            if self._sent >= BURST:
                self._suppressed += 1
                return
            self._sent += 1
        LOGGER.log(level, "librdkafka %s: %s", facility, text)

    def emit_all(self, drained: tuple[list[tuple[int, str, str]], int]) -> None:
        """What the native producer's ``drain_logs`` returned."""
        lines, dropped = drained
        for syslog_level, facility, text in lines:
            self.emit(syslog_level, facility, text)
        if dropped:
            self.emit(7, "LOG", f"{dropped} line(s) dropped by the producer's log ring", 0)


class ConfluentLogger:
    """What confluent-kafka's ``logger`` config calls (``log(level, fmt, *args)`` with a logging
    level): forwarded through a RateLimitedLog."""

    def __init__(self, log: RateLimitedLog) -> None:
        self._log = log

    def log(self, level: int, fmt: str, *args: Any) -> None:
        syslog = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6}.get(level, 7)
        facility = str(args[0]) if args else ""
        text = str(args[-1]) if args else fmt
        self._log.emit(syslog, facility, text)


def unreachable_text(bootstrap: str, reason: str) -> str:
    """The one line saying which servers could not be reached, and librdkafka's reason."""
    return f"cannot reach the Kafka cluster at {bootstrap}: {reason}"


LOOKUP_STEP_S = 0.5        # metadata requests are made in steps this long, between error checks
UNREACHABLE_AFTER_S = 2.0  # no broker reachable for this long: say so (a starting broker gets this)


def lookup_topic(lookup: Callable[[float], tuple[str | None, T | None]], serve_errors: Callable[[], None],
                 reason: Callable[[], str | None], bootstrap: str, topic: str, timeout: float) -> T | None:
    """``lookup(step)`` -> (why it failed or None, result) repeated until it succeeds. When the
    error callback (run by ``serve_errors``) reported that no broker can be reached, raises one
    DeliveryError naming the servers after UNREACHABLE_AFTER_S instead of waiting out ``timeout``."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        failure, result = lookup(max(0.05, min(LOOKUP_STEP_S, deadline - time.monotonic())))
        if failure is None:
            return result
        serve_errors()
        now = time.monotonic()
        problem = reason()
        if (problem is not None and now - start >= UNREACHABLE_AFTER_S) or now >= deadline:
            raise DeliveryError(f"{unreachable_text(bootstrap, problem or failure)} (looking up topic {topic!r})")


class ConnectionWatch:
    """Connection trouble as a confluent-kafka client's ``error_cb`` reports it: the first concrete
    reason (a refused connect names the server), else "all brokers down"."""

    def __init__(self) -> None:
        self.problem: str | None = None
        self.all_down: str | None = None

    def note(self, code: int, reason: str) -> None:
        if code == KafkaError._ALL_BROKERS_DOWN:
            self.all_down = self.all_down or reason
        elif code in CONNECTION_ERRORS and self.problem is None:
            self.problem = reason

    def reason(self) -> str | None:
        return self.problem or self.all_down

    def clear(self) -> None:
        self.problem = self.all_down = None


def watched_client_config(conf: dict[str, Any]) -> tuple[dict[str, Any], ConnectionWatch]:
    """``conf`` for any confluent-kafka client (Consumer, AdminClient) with librdkafka's log routed
    here and connection errors watched; a user's own error_cb still runs."""
    watch = ConnectionWatch()
    user_error_cb = conf.get("error_cb")

    def error_cb(err: KafkaError) -> None:
        watch.note(err.code(), err.str())
        if user_error_cb is not None:
            user_error_cb(err)

    out = {**conf, "error_cb": error_cb}
    out.setdefault("logger", ConfluentLogger(RateLimitedLog(own_levels="debug" in conf)))
    return out, watch


def client_topic_metadata(client: Any, watch: ConnectionWatch, bootstrap: str, topic: str, timeout: float) -> Any:
    """``client.list_topics(topic)``'s TopicMetadata (None when not listed), or one DeliveryError
    within a few seconds when no broker can be reached."""
    def lookup(step: float) -> tuple[str | None, Any]:
        try:
            md = client.list_topics(topic, timeout=step)
        except KafkaException as exc:
            return str(exc.args[0]), None
        watch.clear()
        return None, md.topics.get(topic)

    return lookup_topic(lookup, lambda: client.poll(0), watch.reason, bootstrap, topic, timeout)
