"""Strict JSON (RFC 8259) parser for the reference decoders.

Why not ``json.loads``: the decoders need things it does not give, with the
same answer the native scanner gives, byte for byte:
- the first problem in left-to-right order decides the reason
  (``invalid-json`` or ``too-deep``), so both implementations agree on
  records with several problems;
- number literals are kept as text (``JNum``) so ``3.97E9`` reaches ``attrs``
  unchanged and integer fields are range-checked without float rounding;
- duplicate names are recorded (with their position) instead of silently
  taking the last value; the decoder rejects duplicates of fields it reads;
- NaN/Infinity, lone surrogate escapes and raw control characters are errors.
The input is already-validated UTF-8 text.
"""
from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 64


class JsonError(Exception):
    def __init__(self, reason: str, pos: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pos = pos


class JNum(str):
    """A JSON number, kept as its literal text."""

    __slots__ = ()


class JObj(dict):  # type: ignore[type-arg]
    """A JSON object; ``dups`` maps a repeated name to the position of its first repeat."""

    __slots__ = ("dups",)

    def __init__(self) -> None:
        super().__init__()
        self.dups: dict[str, int] | None = None


_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_STR_CHUNK = re.compile(r'([^"\\\x00-\x1f]*)(["\\\x00-\x1f])')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")


def parse(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON text; raise JsonError with the first problem found."""
    end = _WS.match(text, 0).end()  # type: ignore[union-attr]
    value, end = _value(text, end, 0, max_depth)
    end = _WS.match(text, end).end()  # type: ignore[union-attr]
    if end != len(text):
        raise JsonError("invalid-json", end)
    return value


def _value(s: str, i: int, depth: int, max_depth: int) -> tuple[Any, int]:
    if i >= len(s):
        raise JsonError("invalid-json", i)
    c = s[i]
    if c == '"':
        return _string(s, i + 1)
    if c == "{":
        if depth + 1 > max_depth:
            raise JsonError("too-deep", i)
        return _object(s, i + 1, depth + 1, max_depth)
    if c == "[":
        if depth + 1 > max_depth:
            raise JsonError("too-deep", i)
        return _array(s, i + 1, depth + 1, max_depth)
    if s.startswith("true", i):
        return True, i + 4
    if s.startswith("false", i):
        return False, i + 5
    if s.startswith("null", i):
        return None, i + 4
    m = _NUMBER.match(s, i)
    if m is None:
        raise JsonError("invalid-json", i)
    return JNum(m.group()), m.end()


def _string(s: str, i: int) -> tuple[str, int]:
    chunks: list[str] = []
    while True:
        m = _STR_CHUNK.match(s, i)
        if m is None:
            raise JsonError("invalid-json", len(s))  # unterminated
        content, term = m.groups()
        if content:
            chunks.append(content)
        i = m.end()
        if term == '"':
            return "".join(chunks), i
        if term != "\\":
            raise JsonError("invalid-json", i - 1)  # raw control character
        if i >= len(s):
            raise JsonError("invalid-json", i)
        esc = s[i]
        if esc != "u":
            if esc not in _ESCAPES:
                raise JsonError("invalid-json", i)
            chunks.append(_ESCAPES[esc])
            i += 1
            continue
        cp, i = _hex4(s, i + 1)
        if 0xD800 <= cp <= 0xDBFF:
            # a high surrogate must be followed by an escaped low surrogate
            if not s.startswith("\\u", i):
                raise JsonError("invalid-json", i)
            lo, j = _hex4(s, i + 2)
            if not 0xDC00 <= lo <= 0xDFFF:
                raise JsonError("invalid-json", i)
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
            i = j
        elif 0xDC00 <= cp <= 0xDFFF:
            raise JsonError("invalid-json", i)
        chunks.append(chr(cp))


def _hex4(s: str, i: int) -> tuple[int, int]:
    if _HEX4.match(s, i) is None:
        raise JsonError("invalid-json", i)
    return int(s[i:i + 4], 16), i + 4


def _object(s: str, i: int, depth: int, max_depth: int) -> tuple[JObj, int]:
    obj = JObj()
    i = _WS.match(s, i).end()  # type: ignore[union-attr]
    if i < len(s) and s[i] == "}":
        return obj, i + 1
    while True:
        if i >= len(s) or s[i] != '"':
            raise JsonError("invalid-json", i)
        key_pos = i
        key, i = _string(s, i + 1)
        i = _WS.match(s, i).end()  # type: ignore[union-attr]
        if i >= len(s) or s[i] != ":":
            raise JsonError("invalid-json", i)
        i = _WS.match(s, i + 1).end()  # type: ignore[union-attr]
        value, i = _value(s, i, depth, max_depth)
        if key in obj:
            if obj.dups is None:
                obj.dups = {}
            obj.dups.setdefault(key, key_pos)
        obj[key] = value
        i = _WS.match(s, i).end()  # type: ignore[union-attr]
        if i < len(s) and s[i] == ",":
            i = _WS.match(s, i + 1).end()  # type: ignore[union-attr]
            continue
        if i < len(s) and s[i] == "}":
            return obj, i + 1
        raise JsonError("invalid-json", i)


def _array(s: str, i: int, depth: int, max_depth: int) -> tuple[list[Any], int]:
    arr: list[Any] = []
    i = _WS.match(s, i).end()  # type: ignore[union-attr]
    if i < len(s) and s[i] == "]":
        return arr, i + 1
    while True:
        value, i = _value(s, i, depth, max_depth)
        arr.append(value)
        i = _WS.match(s, i).end()  # type: ignore[union-attr]
        if i < len(s) and s[i] == ",":
            i = _WS.match(s, i + 1).end()  # type: ignore[union-attr]
            continue
        if i < len(s) and s[i] == "]":
            return arr, i + 1
        raise JsonError("invalid-json", i)
