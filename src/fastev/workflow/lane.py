"""One workflow's delivery lane: concurrency, per-path order, rate limit, retries, expiry (``[workflow.delivery]``).

Tasks arrive in topic order. With ``ordering = "path"`` a task waits until every earlier task of the same path
has reached its terminal outcome (a retry on backoff holds its path, not the others); with ``"none"`` tasks
start as workers free up. ``concurrency`` workers run the action, so at most that many actions run at once.
A task whose partition was revoked is dropped before it starts: its new owner replays it.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .attempt import DEAD, RETRY, SUCCEEDED, Attempt, Job
from .offsets import TopicPartition
from .outcomes import Outcome
from .pacing import RateLimit, backoff_delay

__all__ = ("Task", "Lane")


@dataclass(slots=True, eq=False)
class Task:
    """An (event, workflow) pair between its message being read and its terminal outcome."""

    job: Job
    tp: TopicPartition
    offset: int
    message: bytes                  # the original message value (its dead letter carries it)
    appended_s: float               # Kafka append time (seconds since the epoch), for trigger latency
    gen: int = 0                    # the partition's assignment generation when it was read
    first_try: float = 0.0          # monotonic time the first try started
    last: Attempt | None = field(default=None)

    @property
    def path(self) -> str:
        path: str = self.job.event["path"]
        return path


class Lane:
    def __init__(self, spec: Any, action: Any, finish: Callable[[Task, Outcome], None],
                 owned: Callable[[Task], bool], drop: Callable[[Task], None], stats: Any) -> None:
        self.spec, self.action, self.finish, self.stats = spec, action, finish, stats
        self.owned, self.drop = owned, drop
        d = spec.delivery
        self.delivery = d
        self.by_path: dict[str, deque[Task]] | None = {} if d.ordering == "path" else None
        self.ready: asyncio.Queue[Task] = asyncio.Queue()
        self.rate = RateLimit(d.rate_per_s) if d.rate_per_s else None
        self.running = 0
        self.waiting = 0  # tasks on backoff
        self.workers: list[asyncio.Task[None]] = []
        self.timers: set[asyncio.TimerHandle] = set()
        self.closing = False
        self.batch = getattr(action, "batch_max_events", None)
        self.batch_wait_s = getattr(action, "batch_max_wait_ms", 200) / 1000.0

    # -- intake --------------------------------------------------------------------------------
    def submit(self, task: Task) -> None:
        self.stats.matched(self.spec.name)
        if self.by_path is None:
            self.ready.put_nowait(task)
            return
        queue = self.by_path.get(task.path)
        if queue is None:
            self.by_path[task.path] = deque((task,))
            self.ready.put_nowait(task)
        else:
            queue.append(task)  # starts when the tasks before it on this path are terminal

    def _release(self, task: Task) -> None:
        """``task`` is terminal (or dropped): the next task on its path may start."""
        if self.by_path is None:
            return
        queue = self.by_path.get(task.path)
        if queue is None or not queue or queue[0] is not task:
            return
        queue.popleft()
        if queue:
            self.ready.put_nowait(queue[0])
        else:
            del self.by_path[task.path]

    # -- workers -------------------------------------------------------------------------------
    def start(self) -> None:
        self.workers = [asyncio.create_task(self._work(), name=f"workflow-{self.spec.name}-{i}")
                        for i in range(self.delivery.concurrency)]

    async def _work(self) -> None:
        while not self.closing:
            task = await self.ready.get()
            if self.closing:
                return
            batch = [task]
            if self.batch:
                deadline = time.monotonic() + self.batch_wait_s
                while len(batch) < self.batch and not self.closing:
                    try:
                        batch.append(self.ready.get_nowait())
                        continue
                    except asyncio.QueueEmpty:
                        pass
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(self.ready.get(), left))
                    except TimeoutError:
                        break
            batch = [t for t in batch if self._startable(t)]
            if not batch:
                continue
            if self.rate is not None:
                for _ in batch:
                    await self.rate.take()
            await self._try(batch)

    def _startable(self, task: Task) -> bool:
        if not self.owned(task):
            self._release(task)
            self.drop(task)
            return False
        max_age = self.delivery.max_age_s
        if max_age is not None and time.time() - task.job.event["time_us"] / 1e6 > max_age:
            self._terminal(task, Attempt(DEAD, "expired", detail=f"event older than {max_age:g} s"))
            return False
        return True

    async def _try(self, batch: list[Task]) -> None:
        now = time.monotonic()
        for t in batch:
            if t.first_try == 0.0:
                t.first_try = now
        self.running += len(batch)
        self.stats.started(self.spec.name, len(batch))
        try:
            if len(batch) == 1 and not self.batch:
                attempts = [await self.action.run(batch[0].job)]
            else:
                attempts = await self.action.run_batch([t.job for t in batch])
        finally:
            self.running -= len(batch)
        self.stats.action_seconds(self.spec.name, time.monotonic() - now)
        for task, attempt in zip(batch, attempts, strict=True):
            self._settle(task, attempt)

    def _settle(self, task: Task, attempt: Attempt) -> None:
        task.last = attempt
        if attempt.outcome == RETRY and task.job.attempt < self.delivery.attempts and not self.closing:
            d = self.delivery
            delay = backoff_delay(task.job.attempt, backoff=d.backoff, initial_s=d.backoff_initial_s,
                                  max_s=d.backoff_max_s, jitter=d.jitter, retry_after_s=attempt.retry_after_s)
            task.job.attempt += 1
            self.stats.retried(self.spec.name)
            self.waiting += 1
            handle = asyncio.get_running_loop().call_later(delay, self._retry_now, task)
            self.timers.add(handle)
            return
        if attempt.outcome == RETRY and self.closing:
            # shutting down: neither terminal nor retried here; the uncommitted message is replayed
            self._release(task)
            self.drop(task)
            return
        self._terminal(task, attempt)

    def _retry_now(self, task: Task) -> None:
        self.waiting -= 1
        self.timers = {h for h in self.timers if not h.cancelled() and h.when() > asyncio.get_running_loop().time()}
        if not self.closing:
            self.ready.put_nowait(task)

    def _terminal(self, task: Task, attempt: Attempt) -> None:
        status = SUCCEEDED if attempt.outcome == SUCCEEDED else DEAD
        reason = None if status == SUCCEEDED else (attempt.reason or "failed")
        duration = int((time.monotonic() - task.first_try) * 1000) if task.first_try else 0
        outcome = Outcome(self.spec.name, task.job.event, status, reason, task.job.attempt if task.first_try else 0,
                          duration, attempt.exit_code, attempt.http_status, attempt.output, attempt.detail)
        self._release(task)
        self.finish(task, outcome)

    # -- shutdown ------------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return self.running

    async def stop(self, grace_s: float) -> None:
        """Start nothing new; let running actions finish for up to ``grace_s``, then cancel them."""
        self.closing = True
        for h in self.timers:
            h.cancel()
        self.timers.clear()
        deadline = time.monotonic() + grace_s
        while self.running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for w in self.workers:
            w.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        self.workers = []
