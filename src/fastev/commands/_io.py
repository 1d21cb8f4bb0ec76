"""Shared plumbing for the subcommands: opening inputs, reading in bounded chunks, error lines."""
from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError, DecodeError

CHUNK_BYTES = 4 << 20  # bounded batches: memory stays flat whatever the input size
HEAD_BYTES = 1024      # what binary_reason looks at


class UsageError(Exception):
    """Bad arguments or unreadable input: exit 2 with this message."""


def open_inputs(names: list[str]) -> list[tuple[str, IO[bytes]]]:
    """Open every input before any output, so an unreadable one fails the run up front."""
    if not names:
        names = ["-"]
    opened = []
    for name in names:
        if name == "-":
            opened.append(("<stdin>", sys.stdin.buffer))
            continue
        try:
            opened.append((name, open(name, "rb")))  # noqa: SIM115 - closed by the caller
        except OSError as e:
            for _, f in opened:
                if f is not sys.stdin.buffer:
                    f.close()
            raise UsageError(f"cannot read {name}: {e.strerror}") from None
    return opened


def chunks(f: IO[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    while True:
        data = f.read(size)
        if not data:
            return
        yield data


def batches(codec: Any, f: IO[bytes]) -> Iterator[Any]:
    """Feed a Decoder/Transcoder chunk by chunk, then finish it: one result per chunk."""
    for data in chunks(f):
        yield codec.feed(data)
    yield codec.finish()


def binary_reason(head: bytes) -> str | None:
    """Why the start of an input is not text at all (every supported format is UTF-8 text), or None.

    A NUL byte, or more than a tenth of the characters undecodable or control characters: an
    executable or random data, not a text input with a few bad records (those are rejected one by one).
    """
    head = head[:HEAD_BYTES]
    if b"\x00" in head:
        return "it contains NUL bytes"
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(head, final=False)
    bad = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in "\t\n\r\f"))
    if bad * 10 > len(text):
        return "it is binary data (invalid UTF-8 or control characters)"
    return None


def load_watches(path: str | None) -> dict[str, str] | None:
    if path is None:
        return None
    try:
        doc = json.loads(Path(path).read_text("utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read --inotify-watches {path}: {e.strerror}") from None
    except ValueError as e:
        raise UsageError(f"--inotify-watches {path}: not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"--inotify-watches {path}: must be a JSON object (subscription -> directory)")
    return doc


class ErrorWriter:
    """Rejected records as JSON lines: to --errors FILE, else stderr; at most ``limit`` of them
    (None: all), the rest only counted in ``suppressed``."""

    def __init__(self, path: str | None, limit: int | None = None) -> None:
        self.count = 0
        self.suppressed = 0
        self.limit = limit
        self._own = path is not None
        try:
            self._out: IO[str] = open(path, "w", encoding="utf-8") if path else sys.stderr  # noqa: SIM115
        except OSError as e:
            raise UsageError(f"cannot write --errors {path}: {e.strerror}") from None

    def write(self, errors: list[DecodeError], input_name: str) -> None:
        for e in errors:
            if self.limit is not None and self.count >= self.limit:
                self.suppressed += 1
                continue
            d: dict[str, Any] = e.to_dict()
            d["input"] = input_name
            self._out.write(json.dumps(d, ensure_ascii=False) + "\n")
            self.count += 1

    def close(self) -> None:
        if self._own:
            self._out.close()
        else:
            self._out.flush()


def fail(message: str) -> int:
    print(f"fastev: error: {message}", file=sys.stderr)
    return 2


CONFIG_ERRORS = (ConfigError, UsageError)
