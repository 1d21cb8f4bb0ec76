"""At-least-once bookkeeping: ordered completion of delivery tokens, and file checkpoints.

A source hands the pipeline *units* (a file chunk, a consumer batch), each with
the position that is safe to resume from once the unit and everything before
it is delivered. The sink reports each unit's token once all of its messages
are acknowledged, in any order; ``CompletionTracker`` releases positions only
for the completed prefix, so a position is never committed while something
derived from an earlier one is still in flight (docs/design.md, "Delivery
guarantees").
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ("CompletionTracker", "FileCheckpoints")


class CompletionTracker:
    """Units complete in any order; ``on_commit`` gets the positions of the completed prefix, in order."""

    __slots__ = ("_queue", "_done", "_on_commit", "committed_units", "_last")

    def __init__(self, on_commit: Callable[[list[Any]], None]) -> None:
        self._queue: deque[tuple[int, Any]] = deque()   # (seq, position), in send order
        self._done: set[int] = set()
        self._on_commit = on_commit
        self.committed_units = 0
        self._last: int | None = None

    def add(self, seq: int, position: Any) -> None:
        """Register a unit before any of its messages can be acknowledged (``position`` None: no new position)."""
        if self._last is not None and seq <= self._last:
            raise ValueError(f"unit {seq} registered out of order")
        self._last = seq
        self._queue.append((seq, position))

    def done(self, seq: int) -> None:
        self._done.add(seq)
        released: list[Any] = []
        queue = self._queue
        while queue and queue[0][0] in self._done:
            s, position = queue.popleft()
            self._done.discard(s)
            self.committed_units += 1
            if position is not None:
                released.append(position)
        if released:
            self._on_commit(released)

    @property
    def pending(self) -> int:
        """Units registered and not yet released."""
        return len(self._queue)


class FileCheckpoints:
    """Resume offsets of input files, one small JSON state file per input, written atomically.

    Keyed by the absolute path; the inode and the size at checkpoint time guard
    against a replaced or truncated file (then reading starts again from 0).

    ``commit`` writes a released position at most every ``interval_s`` per file
    (each write is two fsyncs, a few ms here, and a fast run releases hundreds
    of positions per second); the newest one waits for the next commit or for
    ``flush()``, and the end of a file is written at once. A position is never
    written before it is released, so a crash costs at most ``interval_s`` more
    duplicates, never a loss.
    """

    def __init__(self, state_dir: Path, interval_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.dir = state_dir / "files"
        self.interval_s, self._clock = interval_s, clock
        self._written: dict[Path, float] = {}  # when each file's checkpoint was last written
        self._due: dict[Path, tuple[os.stat_result, int]] = {}  # newest released position not yet written

    def commit(self, path: Path, st: os.stat_result, offset: int) -> None:
        """A released position: written now when the interval is up or the file is done, else by ``flush``."""
        now = self._clock()
        if offset >= st.st_size or now - self._written.get(path, -self.interval_s) >= self.interval_s:
            self._due.pop(path, None)
            self.save(path, st, offset)
            self._written[path] = now
        else:
            self._due[path] = (st, offset)

    def flush(self) -> None:
        """Write every position still waiting (end of a run, shutdown)."""
        due, self._due = self._due, {}
        for path, (st, offset) in due.items():
            self.save(path, st, offset)
            self._written[path] = self._clock()

    def _file(self, path: Path) -> Path:
        digest = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:24]
        return self.dir / f"{digest}.json"

    def load(self, path: Path, st: os.stat_result) -> int:
        """The offset to resume ``path`` from (0 when unknown or when the file changed identity)."""
        try:
            doc = json.loads(self._file(path).read_text("utf-8"))
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as e:
            print(f"fastev run: warning: ignoring unreadable checkpoint of {path}: {e}", file=sys.stderr)
            return 0
        offset = int(doc.get("offset", 0))
        if doc.get("path") != str(path) or doc.get("ino") != st.st_ino or doc.get("dev") != st.st_dev:
            print(f"fastev run: warning: {path} is not the file checkpointed before (other inode); "
                  "reading it from the start", file=sys.stderr)
            return 0
        if st.st_size < offset:
            print(f"fastev run: warning: {path} is shorter ({st.st_size} B) than its checkpoint ({offset} B); "
                  "it was truncated or rewritten: reading it from the start", file=sys.stderr)
            return 0
        return offset

    def save(self, path: Path, st: os.stat_result, offset: int) -> None:
        """Write temp + fsync + rename + fsync(dir): the state file is either the old or the new one."""
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self._file(path)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        data = json.dumps({"path": str(path), "dev": st.st_dev, "ino": st.st_ino, "offset": offset,
                           "size": st.st_size}).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def offset(self, path: Path) -> int | None:
        """The stored offset, without checks (tests, summaries)."""
        try:
            return int(json.loads(self._file(path).read_text("utf-8"))["offset"])
        except (OSError, ValueError, KeyError):
            return None
