"""What an action is given (``Job``) and what one try of it returns (``Attempt``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ("Job", "Attempt")


@dataclass(slots=True)
class Job:
    workflow: str
    event: dict[str, Any]
    event_json: bytes          # orjson.dumps(event): the FORMATS §1 JSON line without newline
    output: dict[str, Any] | None  # upstream result's output (chained workflows), else None
    attempt: int = 1           # 1-based, set by the engine before each try


@dataclass(slots=True)
class Attempt:
    outcome: str               # "succeeded" | "retry" | "dead"
    reason: str | None = None  # for retry/dead: "failed" | "timeout" | "rejected"
    output: Any = None         # parsed JSON object of stdout / response body, else None
    exit_code: int | None = None
    http_status: int | None = None
    retry_after_s: float | None = None   # from Retry-After (seconds or HTTP date), engine waits at least this
    detail: str = ""           # one line for logs (stderr tail, response text head)
