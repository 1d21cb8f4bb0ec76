"""The event loop fastev's long-running commands run on: uvloop when installed, else asyncio's."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ("event_loop_runner",)


def event_loop_runner() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """``runner(coro)`` runs ``coro`` to completion on a new loop (like ``asyncio.run``) and returns its result."""
    try:
        import uvloop

        return uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency; asyncio still works
        return asyncio.run
