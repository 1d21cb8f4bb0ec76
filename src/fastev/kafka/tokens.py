"""Delivery accounting per caller token, and the texts of delivery failures.

A publisher tags every message with a caller's token (e.g. a source position); once the token
is sealed and every one of its messages has a delivery report, the publisher reports it once.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError

from ..errors import DeliveryError
from .producer_config import UNKNOWN_TOPIC_ERRORS

if TYPE_CHECKING:
    from .publisher import KafkaPublisher

__all__ = ("DeliveryToken", "DeliveryCallback", "fatal_error", "failure_text")

DeliveryCallback = Callable[[Hashable, "DeliveryError | None"], None]


def fatal_error(reason: str, name: str) -> DeliveryError:
    return DeliveryError(f"fatal producer error: {reason} ({name}); nothing after the last "
                         "acknowledged message may be committed")


def failure_text(bootstrap: str, topic: str, code: int, reason: str, name: str) -> str:
    if code in UNKNOWN_TOPIC_ERRORS:
        return f"topic {topic!r} does not exist on {bootstrap} (delivery failed: {reason})"
    return f"delivery to topic {topic!r} failed: {reason} ({name})"

class DeliveryToken:
    """Delivery accounting for one caller token; also the delivery callback of its messages."""

    __slots__ = ("token", "pending", "sealed", "error", "publisher", "slot")

    def __init__(self, publisher: KafkaPublisher, token: Hashable, slot: int = -1) -> None:
        self.publisher = publisher
        self.token = token
        self.slot = slot  # native backend: where C counts this token's delivery reports
        self.pending = 0
        self.sealed = False
        self.error: DeliveryError | None = None

    def __call__(self, err: KafkaError | None, msg: Any) -> None:
        # Runs inside poll()/flush(); must not raise (the error is stored, raised later).
        self.pending -= 1
        publisher = self.publisher
        publisher.in_flight -= 1
        if err is None:
            publisher.delivered += 1
        else:
            publisher.failed += 1
            error = publisher._delivery_failure(err, msg)
            if self.error is None:
                self.error = error
        if self.sealed and self.pending == 0:
            publisher._complete(self)
