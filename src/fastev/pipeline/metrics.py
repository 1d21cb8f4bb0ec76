"""Prometheus metrics of ``fastev run``, on their own registry, served when ``[metrics] listen`` is set."""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError

__all__ = ("PipelineMetrics",)

# Read -> delivery report of a unit (a chunk or consumer batch), seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class PipelineMetrics:
    def __init__(self, listen: tuple[str, int] | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.records_in = Counter("fastev_source_records", "Raw records read, per source", ["source"], registry=r)
        self.bytes_in = Counter("fastev_source_bytes", "Raw bytes read, per source", ["source"], registry=r)
        self.decoded = Counter("fastev_source_events_decoded", "Events decoded, per source", ["source"], registry=r)
        self.rejects = Counter("fastev_source_rejects", "Rejected records, per source and reason",
                               ["source", "reason"], registry=r)
        self.events_out = Counter("fastev_route_events_delivered", "Events acknowledged by Kafka, per route",
                                  ["route"], registry=r)
        self.dead_letters = Counter("fastev_dead_letters_delivered", "Dead-letter messages acknowledged",
                                    registry=r)
        self.latency = Histogram("fastev_delivery_latency_seconds",
                                 "Read to last delivery report of a unit (chunk or consumer batch)",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.queue = Gauge("fastev_producer_queue_messages", "Messages in the producer queue", registry=r)
        self.backpressure = Gauge("fastev_source_paused", "1 while sources wait for the producer queue", registry=r)
        self.lag = Gauge("fastev_consumer_lag_messages", "Kafka source lag per partition (cached watermarks)",
                         ["source", "topic", "partition"], registry=r)
        self.server: Any = None
        self.address: tuple[str, int] | None = None
        if listen is not None:
            from prometheus_client import start_http_server

            try:
                server, _thread = start_http_server(listen[1], addr=listen[0], registry=r)
            except OSError as e:  # a busy port or an address not on this host: the config's mistake
                raise ConfigError(f"metrics.listen: cannot listen on {listen[0]}:{listen[1]}: "
                                  f"{e.strerror or e}") from None
            self.server = server
            self.address = (listen[0], server.server_port)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
