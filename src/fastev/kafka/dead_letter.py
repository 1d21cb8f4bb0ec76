"""Dead letters: the Kafka message that carries one rejected record and why it was rejected."""
from __future__ import annotations

import hashlib

from ..errors import DecodeError

__all__ = ("dead_letter_message", "DEAD_LETTER_MAX_VALUE")

Header = tuple[str, str | bytes | None]


DEAD_LETTER_MAX_VALUE = 512 * 1024  # well under librdkafka's default message.max.bytes (1,000,000)


def dead_letter_message(error: DecodeError, *, source: str | None = None, offset: int | None = None,
                        max_value: int = DEAD_LETTER_MAX_VALUE) -> tuple[bytes, list[Header]]:
    """(value, headers) of the dead-letter message for one rejected record.

    The value is the original bytes; a record longer than ``max_value`` (or one the
    decoder kept only a prefix of, ``too-large``) goes as a bounded prefix with
    ``fastev_truncated``, its ``fastev_length`` where known, and a SHA-256 of what is kept.
    """
    raw = bytes(error.raw)
    headers: list[Header] = [
        ("fastev_reason", error.reason),
        ("fastev_field", error.field or ""),
        ("fastev_source", source or error.source),
        ("fastev_offset", str(error.offset if offset is None else offset)),
        ("fastev_index", str(error.index)),
        ("fastev_line", str(error.line)),
        ("fastev_message", error.message),
    ]
    if len(raw) > max_value or error.reason == "too-large":
        headers += [("fastev_truncated", "1"), ("fastev_length", str(len(raw)) if error.reason != "too-large"
                                                 else "unknown"),
                    ("fastev_sha256", hashlib.sha256(raw).hexdigest())]
        raw = raw[:max_value]
    return raw, headers
