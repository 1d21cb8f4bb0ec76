"""The error tree: every error fastev raises or reports derives from FastevError.

A DecodeError is also a ValueError (as in msgspec) so callers that already
catch ValueError for bad input keep working.
"""
from __future__ import annotations

from typing import Any

# Stable reason codes for rejected records (docs/formats.md §4). The native core and
# the pure-Python reference report exactly these codes, in the same precedence:
# too-large > invalid-utf8 > invalid-json|too-deep (whichever comes first in the
# text) > not-an-object > duplicate-key > field checks in the decoder's order.
REASONS: dict[str, str] = {
    "too-large": "record exceeds the size limit",
    "invalid-utf8": "record is not valid UTF-8",
    "invalid-json": "record is not valid JSON",
    "too-deep": "JSON nesting exceeds the depth limit",
    "not-an-object": "value is not a JSON object",
    "duplicate-key": "field occurs more than once",
    "missing-field": "required field is missing",
    "wrong-type": "field has the wrong type",
    "out-of-range": "number is negative or out of range",
    "bad-time": "timestamp is not in the expected format",
    "non-canonical-path": "path is not a canonical absolute path",
    "unknown-subscription": "inotify subscription has no watched directory",
    "unknown-format": "record matches no known source format (auto detection)",
    "too-many-errors": "more items of this message were rejected than are reported one by one",
}


class FastevError(Exception):
    """Base class of every fastev error."""


class ConfigError(FastevError):
    """A configuration or rule file is invalid; the message names the key."""


class AclError(ConfigError):
    """An ACL rule file is invalid."""


class DeliveryError(FastevError):
    """A delivery layer (Kafka publishing, SSE) could not deliver."""


class DecodeError(FastevError, ValueError):
    """One rejected record.

    index  -- 0-based ordinal of the record in its input
    offset -- byte offset of the record's first byte in its input, or -1
    line   -- 1-based line number where the record starts, or 0
    field  -- dotted field path (``status.code``), or None for the whole record
    reason -- a code from REASONS
    source -- decoder name (``dcache-billing`` ...)
    """

    __slots__ = ("index", "offset", "line", "field", "reason", "source", "raw")

    def __init__(self, reason: str, field: str | None = None, *, index: int = -1,
                 offset: int = -1, line: int = 0, source: str = "", raw: bytes = b"") -> None:
        self.reason = reason
        self.field = field
        self.index = index
        self.offset = offset
        self.line = line
        self.source = source
        self.raw = raw
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f" at field {self.field!r}" if self.field else ""
        return f"{self.source or 'record'} #{self.index}: {REASONS.get(self.reason, self.reason)}{where}"

    def __str__(self) -> str:
        return self.message

    def key(self) -> tuple[Any, ...]:
        """What two implementations must agree on."""
        return (self.index, self.offset, self.line, self.field, self.reason, self.source)

    def to_dict(self, raw_limit: int = 4096) -> dict[str, Any]:
        return {
            "index": self.index,
            "line": self.line,
            "source": self.source,
            "field": self.field,
            "reason": self.reason,
            "offset": self.offset,
            "message": self.message,
            "raw": self.raw[:raw_limit].decode("utf-8", "backslashreplace"),
        }

    def __reduce__(self) -> Any:
        return (_rebuild, (self.reason, self.field, self.index, self.offset, self.line,
                           self.source, self.raw))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DecodeError) and self.key() == other.key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"DecodeError(reason={self.reason!r}, field={self.field!r}, index={self.index}, "
                f"offset={self.offset}, line={self.line}, source={self.source!r})")


def _rebuild(reason: str, field: str | None, index: int, offset: int, line: int,
             source: str, raw: bytes) -> DecodeError:
    return DecodeError(reason, field, index=index, offset=offset, line=line, source=source, raw=raw)
