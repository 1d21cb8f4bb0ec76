"""At-least-once bookkeeping: ordered completion of delivery tokens, and file checkpoints.

A source hands the pipeline *units* (a file chunk, a consumer batch), each with
the position that is safe to resume from once the unit and everything before
it is delivered. The publisher reports each unit's token once all of its messages
are acknowledged, in any order; ``CompletionTracker`` releases positions only
for the completed prefix, so a position is never committed while something
derived from an earlier one is still in flight (README, "fastev run").
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
from typing import IO, Any

from .statefile import HEAD_BYTES, Checkpoint, StateFileError, fingerprint, parse_checkpoint

__all__ = ("CompletionTracker", "FileCheckpoints", "CheckpointWriteError", "HEAD_BYTES", "read_head")


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


class CheckpointWriteError(Exception):
    """A checkpoint could not be written (full disk, quota, permissions): the run must stop."""

    def __init__(self, message: str, errno: int | None) -> None:
        super().__init__(message)
        self.errno = errno


def read_head(f: Any) -> bytes:
    """The first ``HEAD_BYTES`` of an open binary file, without moving its position."""
    return os.pread(f.fileno(), HEAD_BYTES, 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


class FileCheckpoints:
    """Resume offsets of input files, one small JSON state file per input, written atomically.

    Keyed by the absolute path. A file is the checkpointed one only if its
    device and inode match, it is not shorter than at checkpoint time and its
    first bytes (up to ``HEAD_BYTES``, never past the offset) hash to the
    stored fingerprint; otherwise it was replaced, or truncated in place
    (copytruncate) and perhaps refilled, and reading starts again from 0 with
    a warning. A state file that cannot be read or has the wrong shape is
    ignored the same way (duplicates, never a loss).

    ``commit`` writes a released position at most every ``interval_s`` per file
    (each write is two fsyncs, a few ms here, and a fast run releases hundreds
    of positions per second); the newest one waits for the next commit or for
    ``flush()``, and the end of a file is written at once. A position is never
    written before it is released, so a crash costs at most ``interval_s`` more
    duplicates, never a loss.

    A write that fails (``ENOSPC``...) leaves the previous state file in place
    and no temporary file; the first failure is kept in ``failure`` (the
    pipeline stops on it) and later positions are not written.

    ``persist=False`` (a run whose broker dies with it): nothing is read or
    written, every file is read from its start.
    """

    def __init__(self, state_dir: Path, interval_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, *, persist: bool = True,
                 log: IO[str] | None = None) -> None:
        self.dir = state_dir / "files"
        self.interval_s, self._clock = interval_s, clock
        self.persist = persist
        self.log = log
        self.failure: CheckpointWriteError | None = None
        self._swept = False  # stale temporaries removed (once, at the first load)
        self._written: dict[Path, float] = {}  # when each file's checkpoint was last written
        self._due: dict[Path, tuple[os.stat_result, int, bytes]] = {}  # newest released, not yet written

    def _warn(self, message: str) -> None:
        print(f"fastev run: warning: {message}", file=self.log or sys.stderr, flush=True)

    def commit(self, path: Path, st: os.stat_result, offset: int, head: bytes = b"") -> None:
        """A released position: written now when the interval is up or the file is done, else by ``flush``.

        ``head``: the file's first bytes as read (``read_head``), for the fingerprint.
        """
        if not self.persist or self.failure is not None:
            return
        now = self._clock()
        if offset >= st.st_size or now - self._written.get(path, -self.interval_s) >= self.interval_s:
            self._due.pop(path, None)
            self._save_or_fail(path, st, offset, head)
            self._written[path] = now
        else:
            self._due[path] = (st, offset, head)

    def flush(self) -> None:
        """Write every position still waiting (end of a run, shutdown)."""
        due, self._due = self._due, {}
        for path, (st, offset, head) in due.items():
            if self.failure is not None:
                return
            self._save_or_fail(path, st, offset, head)
            self._written[path] = self._clock()

    def _save_or_fail(self, path: Path, st: os.stat_result, offset: int, head: bytes) -> None:
        try:
            self.save(path, st, offset, head)
        except CheckpointWriteError as e:
            self.failure = e

    def _file(self, path: Path) -> Path:
        digest = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:24]
        return self.dir / f"{digest}.json"

    def _read(self, path: Path) -> Checkpoint | None:
        state = self._file(path)
        try:
            return parse_checkpoint(state.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as e:
            self._warn(f"ignoring the checkpoint of {path} ({state}: {e.strerror}); reading it from the start")
        except StateFileError as e:
            self._warn(f"ignoring the checkpoint of {path} ({state}: {e}); reading it from the start")
        return None

    def remove_stale_temporaries(self) -> int:
        """Remove temporary state files of processes that no longer run (killed mid-write); returns how many."""
        removed = 0
        try:
            names = [p for p in self.dir.iterdir() if ".tmp" in p.suffix]
        except OSError:
            return 0
        for tmp in names:
            pid = tmp.suffix[len(".tmp"):]
            if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
                continue
            try:
                tmp.unlink()
                removed += 1
            except OSError:
                pass
        return removed

    def load(self, path: Path, st: os.stat_result, head: bytes = b"") -> int:
        """The offset to resume ``path`` from (0 when unknown or when the file is not the checkpointed one).

        ``head``: the file's first bytes now (``read_head``).
        """
        if not self.persist:
            return 0
        if not self._swept:
            self._swept = True
            self.remove_stale_temporaries()
        cp = self._read(path)
        if cp is None:
            return 0
        if cp.path != str(path) or cp.ino != st.st_ino or cp.dev != st.st_dev:
            self._warn(f"{path} is not the file checkpointed before (other inode); reading it from the start")
            return 0
        if st.st_size < cp.offset or st.st_size < cp.size:
            self._warn(f"{path} is shorter ({st.st_size} B) than at its checkpoint ({cp.size} B); "
                       "it was truncated or rewritten: reading it from the start")
            return 0
        if cp.head_sha256 is not None and fingerprint(head, cp.head_bytes) != cp.head_sha256:
            self._warn(f"{path}: its first {cp.head_bytes} B differ from the checkpointed file's; it was "
                       "truncated and refilled or replaced: reading it from the start")
            return 0
        return cp.offset

    def save(self, path: Path, st: os.stat_result, offset: int, head: bytes = b"") -> None:
        """Write temp + fsync + rename + fsync(dir): the state file is either the old or the new one.

        Raises ``CheckpointWriteError`` (the old state file kept, no temporary file left).
        """
        target = self._file(path)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        n = min(len(head), HEAD_BYTES, offset)
        data = json.dumps({"path": str(path), "dev": st.st_dev, "ino": st.st_ino, "offset": offset,
                           "size": max(st.st_size, offset),  # the file may grow while it is read
                           "head_bytes": n, "head_sha256": fingerprint(head, n)}).encode()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(data)
                while view:  # a short write is possible on a nearly full disk
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
            dfd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as e:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise CheckpointWriteError(f"cannot write the checkpoint of {path} in {self.dir}: {e.strerror}",
                                       e.errno) from None

    def offset(self, path: Path) -> int | None:
        """The stored offset, without identity checks (tests, summaries)."""
        try:
            return parse_checkpoint(self._file(path).read_bytes()).offset
        except (OSError, StateFileError):
            return None
