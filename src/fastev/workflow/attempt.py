"""What one action try is given (``Job``) and what it ends as (``Attempt``): the contract between the
workflow engine (fastev.workflow.engine) and its actions (command, webhook)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ("Job", "Attempt", "SUCCEEDED", "RETRY", "DEAD")

SUCCEEDED, RETRY, DEAD = "succeeded", "retry", "dead"


@dataclass(slots=True)
class Job:
    """One (event, workflow) pair to act on."""

    workflow: str
    event: dict[str, Any]
    event_json: bytes              # the event as one JSON object (docs/formats.md §1), no newline
    output: dict[str, Any] | None  # the upstream result's output (chained workflows), else None
    attempt: int = 1               # 1-based, set by the engine before each try


@dataclass(slots=True)
class Attempt:
    """How one try ended: ``succeeded``, ``retry`` (the engine decides whether attempts remain) or ``dead``."""

    outcome: str
    reason: str | None = None          # retry/dead: "failed" | "timeout" | "rejected"
    output: Any = None                 # the JSON object the action printed / answered, else None
    exit_code: int | None = None
    http_status: int | None = None
    retry_after_s: float | None = None  # the receiver's Retry-After: the next try waits at least this long
    detail: str = ""                   # one line for the log (stderr tail, response head)
