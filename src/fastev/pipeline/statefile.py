"""The shape of a file checkpoint (one JSON object per input file) and the file fingerprint.

A state file is data from disk: anything else than the exact shape below
(``null``, a list, a string offset, a negative number...) is a ``StateFileError``,
which the caller turns into "ignore it and read the file from the start".
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ("HEAD_BYTES", "Checkpoint", "StateFileError", "fingerprint", "parse_checkpoint")

HEAD_BYTES = 1024  # the fingerprint covers at most this many first bytes of a file


class StateFileError(ValueError):
    """A state file that is not a checkpoint: the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    path: str
    dev: int
    ino: int
    offset: int
    size: int
    head_bytes: int = 0
    head_sha256: str | None = None  # None: written by a version without fingerprints


def fingerprint(head: bytes, n: int) -> str:
    """Hex SHA-256 of the first ``n`` bytes of ``head`` (a file's beginning)."""
    return hashlib.sha256(head[:n]).hexdigest()


def _count(doc: dict[str, Any], key: str) -> int:
    value = doc.get(key)
    if type(value) is not int or value < 0:  # bool is an int subclass: excluded
        raise StateFileError(f"{key!r} must be a non-negative integer, not {json.dumps(value)[:40]}")
    return value


def parse_checkpoint(data: bytes) -> Checkpoint:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise StateFileError(f"not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise StateFileError(f"not a JSON object but {type(doc).__name__}")
    path = doc.get("path")
    if not isinstance(path, str):
        raise StateFileError("'path' must be a string")
    cp = Checkpoint(path, _count(doc, "dev"), _count(doc, "ino"), _count(doc, "offset"), _count(doc, "size"))
    if cp.offset > cp.size:
        raise StateFileError(f"'offset' {cp.offset} is past 'size' {cp.size}")
    if "head_sha256" not in doc and "head_bytes" not in doc:
        return cp
    head_bytes = _count(doc, "head_bytes")
    digest = doc.get("head_sha256")
    if head_bytes > min(HEAD_BYTES, cp.offset) or not isinstance(digest, str) or len(digest) != 64 \
            or any(c not in "0123456789abcdef" for c in digest):
        raise StateFileError("'head_bytes'/'head_sha256' are not a fingerprint of the file's first bytes")
    return Checkpoint(cp.path, cp.dev, cp.ino, cp.offset, cp.size, head_bytes, digest)
