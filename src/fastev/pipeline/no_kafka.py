"""The publisher of an SSE-only ``fastev run`` (no Kafka target, no dead-letter topic, no Kafka source)."""
from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from ..errors import ConfigError

__all__ = ("NoKafkaPublisher",)


class NoKafkaPublisher:
    """Stands in for the KafkaPublisher: nothing is sent, a sealed token is delivered at once."""

    def __init__(self, on_delivery: Callable[[Hashable, Any], None]) -> None:
        self.on_delivery = on_delivery
        self.config: dict[str, Any] = {}

    def __len__(self) -> int:
        return 0

    def poll(self, timeout: float = 0) -> int:
        return 0

    def seal(self, *tokens: Hashable) -> None:
        for token in tokens:
            self.on_delivery(token, None)

    def send(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - no topic without Kafka
        raise ConfigError("this pipeline has no Kafka (SSE only): nothing may be sent")

    def ensure_topic(self, topic: str) -> None:  # pragma: no cover
        raise ConfigError(f"topic {topic!r}: this pipeline has no Kafka (SSE only)")
