"""The producer configuration every publisher starts from, and the checks it must pass.

At-least-once delivery with per-partition order rests on these settings; ``checked_config``
refuses a config that would give them up.
"""
from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError

from ..errors import ConfigError

__all__ = ("DEFAULT_PRODUCER_CONFIG", "PERMANENT_ERRORS", "UNKNOWN_TOPIC_ERRORS", "checked_config",
           "librdkafka_value")

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
PERMANENT_ERRORS = frozenset({
    KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD,
    KafkaError.RECORD_LIST_TOO_LARGE, KafkaError._FATAL,
})
UNKNOWN_TOPIC_ERRORS = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)


def checked_config(producer_config: dict[str, Any]) -> dict[str, Any]:
    conf = {**DEFAULT_PRODUCER_CONFIG, **producer_config}
    if "bootstrap.servers" not in conf and "metadata.broker.list" not in conf:
        raise ConfigError("kafka producer: bootstrap.servers is required")
    if str(conf["enable.idempotence"]).lower() not in ("true", "1"):
        raise ConfigError("kafka producer: enable.idempotence must stay true (at-least-once, ordered)")
    if str(conf["acks"]).lower() not in ("all", "-1"):
        raise ConfigError("kafka producer: acks must be 'all' (required by idempotence)")
    return conf


def librdkafka_value(value: Any) -> str:
    # What confluent-kafka hands rd_kafka_conf_set: bools as true/false, numbers as text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
