"""Dead letters of a unit: one message per rejected raw message, carrying every reason it was rejected for.

One raw message can fail several times (an S3 message with many bad
``Records[]`` items); one dead letter per error would repeat the same bytes
(up to ``DEAD_LETTER_MAX_VALUE`` each) once per item. The errors of one raw
message share its index, offset and line; they become one dead letter: the
headers of the first error (``fastev_reason``, ``fastev_field`` ...) plus
``fastev_error_count`` and ``fastev_errors``, a JSON array of every error's
``{"reason", "field"}`` (at most ``MAX_LISTED_ERRORS``; the count is exact).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..kafka.dead_letter import dead_letter_message

__all__ = ("MAX_LISTED_ERRORS", "group_by_message", "dead_letter", "unit_dead_letters")

MAX_LISTED_ERRORS = 100  # keeps a dead letter's headers small whatever the decoder reports


def group_by_message(errors: Iterable[Any]) -> list[list[Any]]:
    """The errors grouped by the raw message they come from (index, offset, line), in first-seen order."""
    groups: dict[tuple[int, int, int], list[Any]] = {}
    for err in errors:
        groups.setdefault((err.index, err.offset, err.line), []).append(err)
    return list(groups.values())


def dead_letter(group: Sequence[Any], *, source: str, offset: int | None = None) -> tuple[bytes, list[Any]]:
    """(value, headers) of one raw message's dead letter; ``group``: its errors, first one first."""
    value, headers = dead_letter_message(group[0], source=source, offset=offset)
    listed = [{"reason": e.reason, "field": e.field} for e in group[:MAX_LISTED_ERRORS]]
    headers.append(("fastev_error_count", str(len(group))))
    headers.append(("fastev_errors", json.dumps(listed, separators=(",", ":"))))
    return value, headers


def unit_dead_letters(errors: Sequence[Any], stream: Any, inputs: Sequence[str] | None,
                      pipeline_source: str) -> list[tuple[bytes, list[Any]]]:
    """The dead letters of one unit's errors; ``inputs``: Kafka "topic[partition]" per record, else None (a file)."""
    out: list[tuple[bytes, list[Any]]] = []
    for group in group_by_message(errors):
        err = group[0]
        source = err.source or stream.source.format
        if inputs is not None:  # Kafka: the offset is the message's; name its partition
            i = err.index - stream.records_fed
            where = inputs[i] if 0 <= i < len(inputs) else stream.name
            value, headers = dead_letter(group, source=source)
        else:
            where = stream.name
            offset = err.offset + stream.base_offset if err.offset >= 0 else err.offset
            value, headers = dead_letter(group, source=source, offset=offset)
        headers.append(("fastev_input", where))
        headers.append(("fastev_pipeline_source", pipeline_source))
        out.append((value, headers))
    return out
