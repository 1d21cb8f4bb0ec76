"""Dead letters: one Kafka message per rejected raw message, carrying its bytes and every reason.

One raw message can fail several times (an S3 message with many bad ``Records[]``
items); one dead letter per error would repeat the same bytes (up to
``DEAD_LETTER_MAX_VALUE`` each) once per item. The errors of one raw message share
its index, offset and line (``group_by_message``); they become one dead letter
(``grouped_dead_letter``): the headers of the first error (``fastev_reason``,
``fastev_field`` ...) plus ``fastev_error_count``, how many items or records were
rejected (those a ``too-many-errors`` error summarises included, docs/formats.md §5),
and ``fastev_errors``, a JSON array of the errors' ``{"reason", "field"}`` (at most
``MAX_LISTED_ERRORS``). ``fastev run`` and ``EventProducer`` both send these.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence

from ..errors import DecodeError

__all__ = ("dead_letter_message", "grouped_dead_letter", "group_by_message", "rejected_count",
           "DEAD_LETTER_MAX_VALUE", "MAX_LISTED_ERRORS")

Header = tuple[str, str | bytes | None]


DEAD_LETTER_MAX_VALUE = 512 * 1024  # well under librdkafka's default message.max.bytes (1,000,000)
MAX_LISTED_ERRORS = 100  # keeps a dead letter's headers small whatever the decoder reports
# The field of a too-many-errors error (docs/formats.md §5): "Records[first..last]: N more rejected".
_SUMMARISED = re.compile(r": (\d+) more rejected\Z")


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


def group_by_message(errors: Iterable[DecodeError]) -> list[list[DecodeError]]:
    """The errors grouped by the raw message they come from (index, offset, line), in first-seen order."""
    groups: dict[tuple[int, int, int], list[DecodeError]] = {}
    for err in errors:
        groups.setdefault((err.index, err.offset, err.line), []).append(err)
    return list(groups.values())


def rejected_count(error: DecodeError) -> int:
    """How many rejected items one error stands for: N for a too-many-errors summary, else 1."""
    if error.reason == "too-many-errors":
        m = _SUMMARISED.search(error.field or "")
        if m is not None:
            return int(m.group(1))
    return 1


def grouped_dead_letter(group: Sequence[DecodeError], *, source: str | None = None,
                        offset: int | None = None) -> tuple[bytes, list[Header]]:
    """(value, headers) of one raw message's dead letter; ``group``: its errors, first one first."""
    value, headers = dead_letter_message(group[0], source=source, offset=offset)
    listed = [{"reason": e.reason, "field": e.field} for e in group[:MAX_LISTED_ERRORS]]
    headers.append(("fastev_error_count", str(sum(rejected_count(e) for e in group))))
    headers.append(("fastev_errors", json.dumps(listed, separators=(",", ":"))))
    return value, headers
