"""Old name of the Kafka publishing modules, kept so existing imports keep working.

The delivery stage is now called *publishing*: fastev.kafka.publisher (KafkaPublisher, the
confluent-kafka reference), fastev.kafka.native_publisher, fastev.kafka.tokens (delivery
accounting), fastev.kafka.cloudevents, fastev.kafka.dead_letter, fastev.kafka.producer_config.
"""
from __future__ import annotations

from .cloudevents import (
    SCHEMA_FINGERPRINT_HEX,
    CloudEventHeaderList,
    CloudEventHeaders,
    read_event_head,
    rfc3339_us,
)
from .dead_letter import DEAD_LETTER_MAX_VALUE, dead_letter_message
from .native_publisher import IMPLEMENTATION, NativeKafkaPublisher
from .producer_config import DEFAULT_PRODUCER_CONFIG
from .publisher import KafkaPublisher

KafkaSink = KafkaPublisher
NativeKafkaSink = NativeKafkaPublisher

__all__ = (
    "KafkaSink", "NativeKafkaSink", "KafkaPublisher", "NativeKafkaPublisher", "IMPLEMENTATION",
    "CloudEventHeaders", "CloudEventHeaderList", "read_event_head", "rfc3339_us", "dead_letter_message",
    "DEAD_LETTER_MAX_VALUE", "DEFAULT_PRODUCER_CONFIG", "SCHEMA_FINGERPRINT_HEX",
)
