"""Terminal outcomes as Kafka messages: the result CloudEvent and the workflow dead letter (README "Workflows").

Result: a structured CloudEvent (JSON, ``application/cloudevents+json``) on ``results_topic``, keyed by
the event's path. Its id is ``<workflow>/<event id>``: the same for every run of the same (event, workflow),
so a receiver de-duplicates replays by id. Dead letter: the original message bytes, keyed by path, with
``fastev_reason`` / ``fastev_workflow`` / ``fastev_attempts`` (and the event id and a detail line).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from ..kafka.cloudevents import rfc3339_us

__all__ = ("Outcome", "result_message", "dead_letter_headers", "invalid_message_headers", "RESULT_SOURCE",
           "RESULT_TYPE_PREFIX")

RESULT_SOURCE = "urn:fastev:workflow"
RESULT_TYPE_PREFIX = "org.fastev.workflow."
MAX_DETAIL = 300

Header = tuple[str, str | bytes | None]


@dataclass(slots=True)
class Outcome:
    """How one (event, workflow) ended."""

    workflow: str
    event: dict[str, Any]
    status: str                      # succeeded | dead
    reason: str | None               # dead: failed | expired | rejected | timeout
    attempts: int
    duration_ms: int                 # first try started -> terminal
    exit_code: int | None = None
    http_status: int | None = None
    output: Any = None
    detail: str = ""


def result_message(outcome: Outcome, now_us: int | None = None) -> bytes:
    """The result CloudEvent of one outcome, as JSON bytes."""
    event = outcome.event
    data: dict[str, Any] = {
        "workflow": outcome.workflow, "event_id": event["id"], "status": outcome.status,
        "reason": outcome.reason, "attempts": outcome.attempts, "duration_ms": outcome.duration_ms,
    }
    if outcome.http_status is not None:
        data["http_status"] = outcome.http_status
    else:
        data["exit_code"] = outcome.exit_code
    data["output"] = outcome.output
    data["event"] = event
    return orjson.dumps({
        "specversion": "1.0",
        "id": f"{outcome.workflow}/{event['id']}",
        "source": RESULT_SOURCE,
        "type": RESULT_TYPE_PREFIX + outcome.status,
        "subject": event["path"],
        "time": rfc3339_us(now_us if now_us is not None else time.time_ns() // 1000),
        "datacontenttype": "application/json",
        "data": data,
    })


def dead_letter_headers(outcome: Outcome) -> list[Header]:
    return [("fastev_reason", outcome.reason or "failed"), ("fastev_workflow", outcome.workflow),
            ("fastev_attempts", str(outcome.attempts)), ("fastev_event_id", outcome.event["id"]),
            ("fastev_detail", _one_line(outcome.detail))]


def invalid_message_headers(error: str, topic: str, partition: int, offset: int) -> list[Header]:
    """A route-topic message that is not a StorageEvent (reason ``invalid``)."""
    return [("fastev_reason", "invalid"), ("fastev_detail", _one_line(error)), ("fastev_topic", topic),
            ("fastev_partition", str(partition)), ("fastev_offset", str(offset))]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:MAX_DETAIL]
