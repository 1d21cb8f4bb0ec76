"""The ``command`` action: user software run once per event, never through a shell (README "Workflows").

The argv templates are rendered to whole arguments, so a path with spaces, quotes, ``;``, ``$()`` or a
newline stays one argument. The event is one JSON line on stdin; ``FASTEV_EVENT_ID``, ``FASTEV_WORKFLOW``
and ``FASTEV_ATTEMPT`` are in the environment. Exit 0 = succeeded (stdout kept as the output when it is a
JSON object); exit 75 (EX_TEMPFAIL) or a timeout = retry; any other exit = failed (retried while attempts
remain). The child runs in its own session, so a timeout kills its whole process group, children included.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from .attempt import DEAD, RETRY, SUCCEEDED, Attempt, Job

__all__ = ("CommandRunner", "EX_TEMPFAIL")

EX_TEMPFAIL = 75
MAX_OUTPUT_BYTES = 1 << 20   # stdout kept for the output; more is read and dropped
STDERR_TAIL = 300            # characters of stderr in the log line
KILL_GRACE_S = 2.0           # SIGTERM to the group, then SIGKILL


class CommandRunner:
    """Runs one argv per job; ``argv`` are callables Job -> str (rendered templates)."""

    batch_max_events: int | None = None

    def __init__(self, argv: Sequence[Callable[[Job], str]], timeout_s: float = 600.0,
                 env: dict[str, str] | None = None) -> None:
        self.argv = tuple(argv)
        self.timeout_s = timeout_s
        self.env = dict(os.environ if env is None else env)

    async def run(self, job: Job) -> Attempt:
        try:
            argv = [render(job) for render in self.argv]
        except ValueError as e:  # a template that cannot be rendered for this event: no try can succeed
            return Attempt(DEAD, "rejected", detail=f"argv: {e}")
        if any("\x00" in a for a in argv):
            return Attempt(DEAD, "rejected", detail="argv: a rendered argument contains NUL")
        env = {**self.env, "FASTEV_EVENT_ID": job.event["id"], "FASTEV_WORKFLOW": job.workflow,
               "FASTEV_ATTEMPT": str(job.attempt)}
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True)
        except OSError as e:  # not found / not executable: the site's setup, may be fixed while retrying
            return Attempt(RETRY, "failed", detail=f"cannot start {argv[0]!r}: {e.strerror or e}")
        try:
            out, err = await asyncio.wait_for(_communicate(proc, job.event_json + b"\n"), self.timeout_s)
        except TimeoutError:
            await _kill_group(proc)
            return Attempt(RETRY, "timeout", detail=f"timed out after {self.timeout_s:g} s; process group killed")
        except asyncio.CancelledError:
            await _kill_group(proc)
            raise
        code = proc.returncode if proc.returncode is not None else -1
        tail = err.decode("utf-8", "replace").strip().replace("\n", " | ")[-STDERR_TAIL:]
        if code == 0:
            return Attempt(SUCCEEDED, output=_json_object(out), exit_code=0, detail=tail)
        reason_detail = f"exit {code}" + (f": {tail}" if tail else "")
        return Attempt(RETRY, "failed", exit_code=code, detail=reason_detail)

    async def close(self) -> None:
        return None


async def _communicate(proc: asyncio.subprocess.Process, stdin: bytes) -> tuple[bytes, bytes]:
    """Feed stdin (a child that does not read it is fine), collect bounded stdout and stderr, wait."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    async def feed() -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(stdin)  # type: ignore[union-attr]
            await proc.stdin.drain()  # type: ignore[union-attr]
        with contextlib.suppress(Exception):
            proc.stdin.close()  # type: ignore[union-attr]

    async def read(stream: asyncio.StreamReader) -> bytes:
        kept = bytearray()
        while chunk := await stream.read(65536):
            if len(kept) < MAX_OUTPUT_BYTES:
                kept += chunk[:MAX_OUTPUT_BYTES - len(kept)]
        return bytes(kept)

    _, out, err = await asyncio.gather(feed(), read(proc.stdout), read(proc.stderr))
    await proc.wait()
    return out, err


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the child's process group, SIGKILL it after a grace period; reap the child."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), wait)
            if sig == signal.SIGKILL:
                return
            # the leader is gone; members that ignored SIGTERM still get SIGKILL
        except TimeoutError:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _json_object(out: bytes) -> dict[str, Any] | None:
    text = out.strip()
    if not text.startswith(b"{"):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
