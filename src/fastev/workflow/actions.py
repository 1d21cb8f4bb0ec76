"""From a workflow's ``[workflow.action]`` table to the object that runs it."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .attempt import Job
from .command import CommandRunner

__all__ = ("build_action", "renderer")


def renderer(template: Any, how: str = "render") -> Callable[[Job], str]:
    """A template as the callable Job -> str the actions take; ``how``: render (argv), render_url (URLs:
    values percent-encoded) or render_line (header values: CR/LF/NUL refused)."""
    method = getattr(template, how)

    def render(job: Job) -> str:
        text: str = method(job.event, job.output)
        return text

    return render


def build_action(action: Any, concurrency: int) -> Any:
    if action.type == "command":
        return CommandRunner([renderer(t) for t in action.argv], timeout_s=action.timeout_s)
    if action.type == "webhook":
        from .webhook import WebhookRunner

        batch = action.batch
        return WebhookRunner(url=renderer(action.url, "render_url"), method=action.method, mode=action.mode,
                             headers=[(name, renderer(t, "render_line")) for name, t in action.headers],
                             token_file=action.token_file, hmac_secret_file=action.hmac_secret_file,
                             timeout_s=action.timeout_s,
                             batch_max_events=batch.max_events if batch else None,
                             batch_max_wait_ms=batch.max_wait_ms if batch else 200, concurrency=concurrency)
    raise ValueError(f"unknown action type {action.type!r}")
