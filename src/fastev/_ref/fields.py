"""Typed field access for the reference decoders.

Every accessor either returns a clean value (None when absent) or raises
Reject(reason, field). docs/formats.md §1: empty text counts as absent; §4: wrong
types, negative or overflowing numbers reject the record.
"""
from __future__ import annotations

import re
from typing import Any

from .jsonparse import JNum, JObj
from .paths import canonical_path

INT64_MAX = (1 << 63) - 1
INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

_JSON_INT = re.compile(r"-?[0-9]+\Z")   # a JSON number literal without fraction/exponent
_TEXT_INT = re.compile(r"-?[0-9]+\Z")   # GPFS/Ceph write numbers as text


class Reject(Exception):
    def __init__(self, reason: str, field: str | None) -> None:
        super().__init__(reason, field)
        self.reason = reason
        self.field = field


class Skip(Exception):
    """The record carries no file event (e.g. dCache ``warning``); not an error."""


def join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def obj_or_none(obj: JObj, key: str, prefix: str = "") -> JObj | None:
    v = obj.get(key)
    if v is None:
        return None
    if not isinstance(v, JObj):
        raise Reject("wrong-type", join(prefix, key))
    return v


def text(obj: JObj, key: str, prefix: str = "", required: bool = False) -> str | None:
    v = obj.get(key)
    if v is None or v == "":
        if required:
            raise Reject("missing-field", join(prefix, key))
        return None
    if isinstance(v, JNum) or not isinstance(v, str):
        raise Reject("wrong-type", join(prefix, key))
    return v


def boolean(obj: JObj, key: str, prefix: str = "") -> bool | None:
    v = obj.get(key)
    if v is None:
        return None
    if not isinstance(v, bool):
        raise Reject("wrong-type", join(prefix, key))
    return v


def _range(n: int, lo: int, hi: int, field: str) -> int:
    if n < lo or n > hi:
        raise Reject("out-of-range", field)
    return n


def json_int(obj: JObj, key: str, prefix: str = "", lo: int = 0, hi: int = INT64_MAX,
             text_ok: bool = False) -> int | None:
    """An integer given as a JSON number (or, with text_ok, as decimal text)."""
    v = obj.get(key)
    field = join(prefix, key)
    if v is None:
        return None
    if isinstance(v, JNum):
        if _JSON_INT.match(v) is None:
            raise Reject("wrong-type", field)
        return _range(int(v), lo, hi, field)
    if text_ok and isinstance(v, str):
        if v == "":
            return None
        if _TEXT_INT.match(v) is None:
            raise Reject("wrong-type", field)
        return _range(int(v), lo, hi, field)
    raise Reject("wrong-type", field)


def scalar_text(obj: JObj, key: str, prefix: str = "") -> str | None:
    """Any scalar as text for ``attrs``: numbers keep their literal, booleans are true/false."""
    v = obj.get(key)
    if v is None or v == "":
        return None
    if isinstance(v, str):  # JNum is a str too: its literal text
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    raise Reject("wrong-type", join(prefix, key))


def path_field(value: str, field: str) -> str:
    p = canonical_path(value)
    if p is None:
        raise Reject("non-canonical-path", field)
    return p


def check_duplicates(root: Any, read: dict[str, Any], prefix: str = "") -> None:
    """Reject the first (in text order) repeated name among the fields a decoder reads.

    ``read`` is a tree: name -> None for a leaf, or name -> sub-tree for an object
    whose own fields are read. Repeats elsewhere are tolerated (docs/formats.md §4).
    """
    best: tuple[int, str] | None = None
    stack: list[tuple[Any, dict[str, Any], str]] = [(root, read, prefix)]
    while stack:
        obj, tree, prefix = stack.pop()
        if not isinstance(obj, JObj):
            continue
        if obj.dups:
            for name, pos in obj.dups.items():
                if name in tree and (best is None or pos < best[0]):
                    best = (pos, join(prefix, name))
        for name, sub in tree.items():
            if sub is not None and name in obj:
                stack.append((obj[name], sub, join(prefix, name)))
    if best is not None:
        raise Reject("duplicate-key", best[1])
