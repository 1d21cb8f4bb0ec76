"""Which events a workflow takes: ``[workflow.match]`` compiled once into a Matcher.

Every given condition must hold; a spec without conditions matches every event. Paths are
component prefixes as in the ACL (``/a/b`` covers ``/a/b`` and ``/a/b/c``, not ``/a/bc``); name
globs see only the last component, so no wildcard ever crosses a ``/``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..paths import covers

if TYPE_CHECKING:
    from .config import MatchSpec

__all__ = ("Matcher", "compile_glob", "event_principals")


def compile_glob(pattern: str) -> re.Pattern[str]:
    """A name glob as a regular expression; ValueError (the reason) for a malformed one.

    ``*`` any run of characters, ``?`` one character, ``[abc]`` / ``[a-z]`` one of a set,
    ``[!...]`` one not in it; ``]`` first in a set is a member; no escapes (``[*]`` is a literal
    ``*``). Case-sensitive: storage paths are bytes, compared as they are (docs/formats.md §2).
    """
    if not pattern:
        raise ValueError("an empty glob matches nothing; omit it")
    if "/" in pattern:
        raise ValueError("a name glob matches the last path component and cannot contain '/'")
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            cls, i = _char_class(pattern, i)
            out.append(cls)
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """The regex class of the set opening at ``start`` and the index after its ``]``."""
    i = start + 1
    negate = pattern.startswith("!", i)
    i += negate
    first = i
    if pattern.startswith("]", i):
        i += 1
    end = pattern.find("]", i)
    if end < 0:
        raise ValueError("unclosed '['")
    members: list[str] = []
    j = first
    while j < end:
        lo = pattern[j]
        if j + 2 < end and pattern[j + 1] == "-":
            hi = pattern[j + 2]
            if lo > hi:
                raise ValueError(f"bad range '{lo}-{hi}' in '[': its start is after its end")
            members.append(f"{re.escape(lo)}-{re.escape(hi)}")
            j += 3
        else:
            members.append(re.escape(lo))
            j += 1
    return f"[{'^/' if negate else ''}{''.join(members)}]", end + 1


def event_principals(event: Mapping[str, Any]) -> set[str]:
    """An event's own principals: ``user:NAME``, ``uid:N`` and ``group:NAME`` for each group."""
    found = {f"group:{g}" for g in event.get("groups") or ()}
    user = event.get("user")
    if user:
        found.add(f"user:{user}")
    uid = event.get("uid")
    if uid is not None:
        found.add(f"uid:{uid}")
    return found


class Matcher:
    """The compiled conditions of one ``[workflow.match]`` (``after`` is the engine's business)."""

    __slots__ = ("spec", "_paths", "_kinds", "_names", "_sized", "_min", "_max", "_principals")

    def __init__(self, spec: MatchSpec) -> None:
        self.spec = spec
        self._paths = spec.paths
        self._kinds = spec.kinds
        self._names = tuple(compile_glob(g) for g in spec.names)
        self._sized = spec.min_size is not None or spec.max_size is not None
        self._min = spec.min_size if spec.min_size is not None else 0
        self._max = spec.max_size
        self._principals = frozenset(spec.principals)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Do all the given conditions hold for ``event`` (a docs/formats.md §1 dict)?"""
        if self._kinds and event["kind"] not in self._kinds:
            return False
        if self._sized:
            size = event["size"]
            if size is None or size < self._min or (self._max is not None and size > self._max):
                return False
        if self._paths or self._names:
            path = event["path"]
            if self._paths and not any(covers(p, path) for p in self._paths):
                return False
            if self._names:
                name = path.rpartition("/")[2]
                if not any(g.fullmatch(name) for g in self._names):
                    return False
        if self._principals and self._principals.isdisjoint(event_principals(event)):
            return False
        return True
