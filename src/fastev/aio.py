"""The event loop every long-running command runs on: uvloop when installed, else asyncio.

At the bottom of the package so that both the SSE feeder (fastev.sse) and the pipeline can use it.
"""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ("run_event_loop",)

T = TypeVar("T")


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop (uvloop's when available) and return its result."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; asyncio still works
        return asyncio.run(main)
    return uvloop.run(main)
