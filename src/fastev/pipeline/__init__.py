"""``fastev run``: brokered delivery of raw storage records as per-route Avro Kafka topics, at-least-once.

config      TOML config (``load_config``), errors name the key
sources     file / stdin / Kafka sources yielding units with resumable positions
checkpoint  ordered completion of delivery tokens; atomic file checkpoints
delivery    a route's events -> Kafka messages (avro / confluent / ocf, keys, CloudEvents headers)
metrics     Prometheus metrics
run         the uvloop pipeline (``run_pipeline``)
"""
from .config import PipelineConfig, RouteTarget, SourceConfig, load_config, parse_config
from .run import Pipeline, RunResult, run_pipeline

__all__ = (
    "load_config", "parse_config", "PipelineConfig", "SourceConfig", "RouteTarget",
    "Pipeline", "RunResult", "run_pipeline",
)
