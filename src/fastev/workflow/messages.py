"""Route-topic messages back to events: the three route formats ``fastev run`` writes (docs/formats.md §1,
README "Routes"), recognised per message by their first bytes.

- ``ocf``: an Avro Object Container File (magic ``Obj\\x01``) holding one or more events;
- ``confluent``: magic byte 0, a 4-byte schema id, then one schemaless Avro event;
- ``avro``: one schemaless Avro event. Its first field is the event id, a non-empty string, so its first
  byte is an even, non-zero varint: never 0 and never ``O``, which keeps the three apart.

Anything else (a truncated payload, trailing bytes, another schema) is a ``MessageError``: the engine
dead-letters that message and goes on.
"""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro

from ..avro_format import OCF_MAGIC
from ..event import FIELDS, schema

__all__ = ("MessageError", "read_events", "message_format")

CONFLUENT_MAGIC = 0
CONFLUENT_HEADER = 5  # magic byte + 4-byte schema id

# time_us as a plain long: the same ints as the decoder's event dicts.
_PARSED = fastavro.parse_schema({**schema(), "fields": [
    {**f, "type": "long"} if f["name"] == "time_us" else f for f in schema()["fields"]]})
_FIELDS = frozenset(FIELDS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class MessageError(ValueError):
    """A route message that is not one or more StorageEvents; the message says why."""


def message_format(value: bytes) -> str:
    """``ocf``, ``confluent`` or ``avro``, from the first bytes."""
    if value[:4] == OCF_MAGIC:
        return "ocf"
    if value[:1] == b"\x00":
        return "confluent"
    return "avro"


def read_events(value: bytes | None) -> list[dict[str, Any]]:
    """The events of one route message (one, or an OCF message's all); raises MessageError."""
    if not value:
        raise MessageError("empty message (not a StorageEvent)")
    fmt = message_format(value)
    try:
        if fmt == "ocf":
            # the container's own (writer) schema carries timestamp-micros: back to the plain long
            events = [_checked(_plain_time(e)) for e in fastavro.reader(io.BytesIO(value), reader_schema=_PARSED)]
            if not events:
                raise MessageError("ocf message without events")
            return events
        start = CONFLUENT_HEADER if fmt == "confluent" else 0
        if len(value) <= start:
            raise MessageError(f"{fmt} message of {len(value)} bytes is truncated")
        buf = io.BytesIO(value)
        buf.seek(start)
        event = fastavro.schemaless_reader(buf, _PARSED)
        if buf.tell() != len(value):
            raise MessageError(f"{fmt} message has {len(value) - buf.tell()} bytes after the event")
        return [_checked(event)]
    except MessageError:
        raise
    except Exception as e:  # noqa: BLE001 - fastavro reports malformed input with many exception types
        raise MessageError(f"not a StorageEvent ({fmt} framing): {type(e).__name__}: {e}"[:300]) from None


def _plain_time(event: Any) -> Any:
    if isinstance(event, dict) and isinstance(event.get("time_us"), datetime):
        event["time_us"] = (event["time_us"] - _EPOCH) // _MICROSECOND
    return event


def _checked(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or event.keys() != _FIELDS:
        raise MessageError("not a StorageEvent record")
    return event
