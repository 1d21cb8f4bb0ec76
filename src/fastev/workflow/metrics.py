"""Workflow health: plain per-workflow counts (the terminal table, the exit summary) mirrored to Prometheus
(``[metrics] listen``) on their own registry."""
from __future__ import annotations

from collections import Counter as Counts
from typing import Any

from ..errors import ConfigError

__all__ = ("WorkflowStats", "DURATION_BUCKETS")

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    300.0, 900.0, 3600.0)
COLUMNS = ("matched", "started", "succeeded", "retried", "dead")


class WorkflowStats:
    def __init__(self, workflows: list[str], listen: tuple[str, int] | None = None) -> None:
        self.counts: dict[str, Counts[str]] = {w: Counts() for w in workflows}
        self.dead_reasons: dict[str, Counts[str]] = {w: Counts() for w in workflows}
        self.in_flight: dict[str, int] = dict.fromkeys(workflows, 0)
        self.invalid = 0
        self.server: Any = None
        self.address: tuple[str, int] | None = None
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        r = self.registry = CollectorRegistry()
        self.p_matched = Counter("fastev_workflow_matched", "Events matched, per workflow", ["workflow"], registry=r)
        self.p_started = Counter("fastev_workflow_started", "Action tries started", ["workflow"], registry=r)
        self.p_succeeded = Counter("fastev_workflow_succeeded", "Events succeeded", ["workflow"], registry=r)
        self.p_retried = Counter("fastev_workflow_retried", "Tries that will be retried", ["workflow"], registry=r)
        self.p_dead = Counter("fastev_workflow_dead", "Events dead, per reason", ["workflow", "reason"], registry=r)
        self.p_invalid = Counter("fastev_workflow_invalid_messages", "Topic messages that are not StorageEvents",
                                 registry=r)
        self.p_in_flight = Gauge("fastev_workflow_in_flight", "Actions running now", ["workflow"], registry=r)
        self.p_duration = Histogram("fastev_workflow_action_seconds", "Duration of one action try (or batch)",
                                    ["workflow"], buckets=DURATION_BUCKETS, registry=r)
        self.p_latency = Histogram("fastev_workflow_event_to_outcome_seconds",
                                   "Kafka append time of the event's message -> terminal outcome",
                                   ["workflow"], buckets=DURATION_BUCKETS, registry=r)
        self.p_lag = Gauge("fastev_workflow_consumer_lag_messages", "Messages behind the high watermark",
                           ["topic", "partition"], registry=r)
        if listen is not None:
            from prometheus_client import start_http_server

            try:
                server, _thread = start_http_server(listen[1], addr=listen[0], registry=r)
            except OSError as e:
                raise ConfigError(f"metrics.listen: cannot listen on {listen[0]}:{listen[1]}: "
                                  f"{e.strerror or e}") from None
            self.server = server
            self.address = (listen[0], server.server_port)

    def matched(self, workflow: str) -> None:
        self.counts[workflow]["matched"] += 1
        self.p_matched.labels(workflow).inc()

    def started(self, workflow: str, n: int = 1) -> None:
        self.counts[workflow]["started"] += n
        self.p_started.labels(workflow).inc(n)

    def retried(self, workflow: str) -> None:
        self.counts[workflow]["retried"] += 1
        self.p_retried.labels(workflow).inc()

    def running(self, workflow: str, n: int) -> None:
        self.in_flight[workflow] = n
        self.p_in_flight.labels(workflow).set(n)

    def action_seconds(self, workflow: str, seconds: float) -> None:
        self.p_duration.labels(workflow).observe(seconds)

    def outcome(self, workflow: str, status: str, reason: str | None, latency_s: float | None) -> None:
        self.counts[workflow][status] += 1
        if status == "succeeded":
            self.p_succeeded.labels(workflow).inc()
        else:
            self.dead_reasons[workflow][reason or "failed"] += 1
            self.p_dead.labels(workflow, reason or "failed").inc()
        if latency_s is not None and latency_s >= 0:
            self.p_latency.labels(workflow).observe(latency_s)

    def invalid_message(self) -> None:
        self.invalid += 1
        self.p_invalid.inc()

    def lag(self, lags: dict[tuple[str, int], int]) -> None:
        for (topic, partition), n in lags.items():
            self.p_lag.labels(topic, str(partition)).set(n)

    def rows(self) -> list[tuple[str, ...]]:
        """One row per workflow: name, in flight, the COLUMNS counts, dead reasons."""
        out = []
        for w, c in self.counts.items():
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.dead_reasons[w].items()))
            out.append((w, str(self.in_flight[w]), *(str(c[k]) for k in COLUMNS), reasons))
        return out

    def summary(self) -> dict[str, Any]:
        return {"workflows": {w: {**{k: c[k] for k in COLUMNS}, "dead_reasons": dict(self.dead_reasons[w])}
                              for w, c in self.counts.items()},
                "invalid_messages": self.invalid}

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
