"""``fastev run``: brokered delivery of raw storage records as per-route Avro Kafka topics, at-least-once.

config        TOML config (``load_config``), errors name the key
sources       file / stdin sources yielding units with resumable positions
kafka_source  the Kafka source (offsets committed after delivery, never past a held move)
checkpoint    ordered completion of delivery tokens; atomic file checkpoints
statefile     the shape of a file checkpoint and the file fingerprint
deadletters   one dead letter per rejected raw message
sse_serving   the in-process SSE server of a run with ``[sse]``
no_kafka      the publisher of an SSE-only run
result        run counts and the printed summary
metrics       Prometheus metrics
(fastev.aio) ``run_event_loop``: uvloop when installed, re-exported
run           the pipeline (``run_pipeline``)
"""
from ..aio import run_event_loop
from .config import PipelineConfig, RouteTarget, SourceConfig, load_config, parse_config
from .result import RunResult
from .run import Pipeline, run_pipeline

__all__ = (
    "load_config", "parse_config", "PipelineConfig", "SourceConfig", "RouteTarget",
    "Pipeline", "RunResult", "run_pipeline", "run_event_loop",
)
