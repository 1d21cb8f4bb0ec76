"""Dead letters of a unit: one message per rejected raw message (``kafka.dead_letter`` builds them),
named after the input it came from (``fastev_input``) and the pipeline source."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..kafka.dead_letter import MAX_LISTED_ERRORS, group_by_message, grouped_dead_letter

__all__ = ("MAX_LISTED_ERRORS", "group_by_message", "unit_dead_letters")


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
            value, headers = grouped_dead_letter(group, source=source)
        else:
            where = stream.name
            offset = err.offset + stream.base_offset if err.offset >= 0 else err.offset
            value, headers = grouped_dead_letter(group, source=source, offset=offset)
        headers.append(("fastev_input", where))
        headers.append(("fastev_pipeline_source", pipeline_source))
        out.append((value, headers))
    return out
