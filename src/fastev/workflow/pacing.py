"""Retry backoff and the per-workflow rate limit (``[workflow.delivery]``)."""
from __future__ import annotations

import asyncio
import random
import time

__all__ = ("backoff_delay", "RateLimit")


def backoff_delay(tries_done: int, *, backoff: str, initial_s: float, max_s: float, jitter: bool,
                  retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds to wait before the next try after ``tries_done`` failed tries.

    exponential: initial * 2^(n-1); linear: initial * n; capped at ``max_s``. Jitter is "full jitter"
    over the upper half ([d/2, d]) so bursts spread without ever retrying at once. A receiver's
    ``Retry-After`` is a floor.
    """
    n = max(1, tries_done)
    delay = initial_s * (2 ** min(n - 1, 60) if backoff == "exponential" else n)
    delay = min(delay, max_s)
    if jitter:
        delay = (rng or random).uniform(delay / 2, delay)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay


class RateLimit:
    """A token bucket as GCRA: at most ``rate_per_s`` starts per second on average and a burst of
    ``burst`` (default one second's worth). Slots are reserved before waiting, so concurrent callers
    queue behind each other and the rate is never overshot."""

    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        self.interval = 1.0 / rate_per_s
        self.tolerance = (max(1.0, burst if burst is not None else rate_per_s) - 1.0) * self.interval
        self._tat = 0.0  # theoretical arrival time of the next start

    def reserve(self, now: float | None = None) -> float:
        """Take a slot; returns how long to wait before using it."""
        now = time.monotonic() if now is None else now
        tat = max(self._tat, now)
        wait = max(0.0, tat - now - self.tolerance)
        self._tat = tat + self.interval
        return wait

    async def take(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
