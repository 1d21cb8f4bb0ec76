"""Which offsets a workflow runner may commit: the at-least-once rule of README "Workflows".

Per partition, every message read is an entry with a count of its unfinished (event, workflow) jobs. A job
is finished when its terminal outcome (and dead letter) has been acknowledged by Kafka. The committable
position of a partition is the offset of its oldest unfinished message, or one past the newest read when
none is unfinished: a retry waiting on backoff holds its own partition only, never the others.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

__all__ = ("OffsetLedger", "TopicPartition")

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class _Partition:
    unfinished: dict[int, int] = field(default_factory=dict)  # offset -> jobs not yet terminal
    order: deque[int] = field(default_factory=deque)          # offsets read, oldest first
    next_offset: int = -1                                     # one past the newest read
    committed: int = -1                                       # the last position handed out for commit


class OffsetLedger:
    """Thread-safe: the consumer's rebalance callbacks run on the consumer thread."""

    def __init__(self) -> None:
        self._parts: dict[TopicPartition, _Partition] = {}
        self._lock = threading.Lock()

    def add(self, tp: TopicPartition, offset: int, jobs: int) -> None:
        """A message was read; ``jobs`` (event, workflow) pairs must finish before it may be committed."""
        with self._lock:
            part = self._parts.get(tp)
            if part is None:
                part = self._parts[tp] = _Partition()
            if jobs > 0:
                part.unfinished[offset] = part.unfinished.get(offset, 0) + jobs
                part.order.append(offset)
            part.next_offset = max(part.next_offset, offset + 1)

    def finish(self, tp: TopicPartition, offset: int) -> None:
        """One job of that message reached a delivered terminal outcome (ignored for forgotten partitions)."""
        with self._lock:
            part = self._parts.get(tp)
            if part is None or offset not in part.unfinished:
                return
            part.unfinished[offset] -= 1

    def unfinished(self) -> int:
        with self._lock:
            return sum(n for p in self._parts.values() for n in p.unfinished.values())

    def committable(self, only: set[TopicPartition] | None = None, *,
                    changed: bool = True) -> dict[TopicPartition, int]:
        """Position to commit per partition (restricted to ``only``); with ``changed`` only those that moved."""
        out: dict[TopicPartition, int] = {}
        with self._lock:
            for tp, part in self._parts.items():
                if only is not None and tp not in only:
                    continue
                while part.order and part.unfinished.get(part.order[0], 0) <= 0:
                    part.unfinished.pop(part.order.popleft(), None)
                position = part.order[0] if part.order else part.next_offset
                if position < 0 or (changed and position == part.committed):
                    continue
                part.committed = position
                out[tp] = position
        return out

    def forget(self, tps: set[TopicPartition]) -> None:
        """Partitions revoked or lost: their positions are the new owner's."""
        with self._lock:
            for tp in tps:
                self._parts.pop(tp, None)

    def owns(self, tp: TopicPartition) -> bool:
        with self._lock:
            return tp in self._parts
