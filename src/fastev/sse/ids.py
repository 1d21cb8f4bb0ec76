"""Opaque SSE event ids: an authenticated encryption of a stream position.

An id names a *cursor*: for every partition of the stream, the next offset
not yet covered (``{partition: next_offset}``). A client resuming with
Last-Event-ID gets every event of partition ``p`` at offset >= cursor[p] that is
still in the replay window, so the cursor stays exact across several servers fed
from the same topic (each interleaves the partitions differently) and across a
restart (positions are Kafka offsets).

Why encrypted, not plain integers: a client sees only the ids of events it may
see; plain positions would let it count the hidden events in between (FORMATS /
issue: "a client never learns ids or counts of events it may not see"). AES-SIV
is deterministic (the same position gets the same id on every server that shares
the key) and authenticated (a forged or foreign id is rejected, never
misread). The stream name is bound as associated data, so an id of another
stream (another topic, or a previous ``fastev run`` process) decodes to None and
the client gets EVENT_LOSS rather than a wrong resume point. Offsets are encoded
at a fixed width so that the id length does not reveal their magnitude.
"""
from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

__all__ = ("EventIds", "load_or_create_key", "KEY_BYTES")

KEY_BYTES = 32  # AES-SIV-128 (two 128-bit keys)
_VERSION = 1
_PAIR = struct.Struct(">IQ")  # partition, next offset
MAX_PARTITIONS = 4096  # a bound on what an id may claim, so a crafted id cannot make a huge cursor


class EventIds:
    """Encode a cursor ``{partition: next_offset}`` as an opaque id string, and back."""

    __slots__ = ("_siv", "_aad")

    def __init__(self, key: bytes | None = None, stream: str = "") -> None:
        key = os.urandom(KEY_BYTES) if key is None else key
        if len(key) not in (32, 48, 64):
            raise ValueError(f"an SSE id key must be 32, 48 or 64 bytes, not {len(key)}")
        self._siv = AESSIV(key)
        self._aad = [b"fastev-sse-id", stream.encode()]

    def encode(self, cursor: Mapping[int, int]) -> str:
        body = bytes((_VERSION,)) + b"".join(_PAIR.pack(p, o) for p, o in sorted(cursor.items()))
        return base64.urlsafe_b64encode(self._siv.encrypt(body, self._aad)).rstrip(b"=").decode("ascii")

    def decode(self, text: str) -> dict[int, int] | None:
        """The cursor of an id this stream issued; None for anything else (garbage, other key or stream)."""
        raw = text.strip()
        if not raw or len(raw) > 8 * MAX_PARTITIONS:
            return None
        try:
            blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            body = self._siv.decrypt(blob, self._aad)
        except (ValueError, binascii.Error, InvalidTag):
            return None
        if not body or body[0] != _VERSION or (len(body) - 1) % _PAIR.size:
            return None
        return {p: o for p, o in _PAIR.iter_unpack(body[1:])}


def load_or_create_key(path: str | Path) -> bytes:
    """The id key in ``path`` (raw bytes); created with a fresh random key (mode 0600) when missing.

    Servers that serve the same topic must share this file for their ids to be interchangeable.
    """
    p = Path(path)
    if not p.exists():
        # Write a private temp file, then link it into place: atomic, and a server racing us keeps ours or its own.
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, os.urandom(KEY_BYTES))
        finally:
            os.close(fd)
        try:
            os.link(tmp, p)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = p.read_bytes()
    if len(key) not in (32, 48, 64):
        raise ValueError(f"{p}: an SSE id key file holds 32, 48 or 64 raw bytes, not {len(key)}")
    return key
