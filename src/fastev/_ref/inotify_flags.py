"""inotify flag names -> kind (docs/formats.md §3.5), and move pairing by cookie.

Shared by dCache storage events (§3.2) and GPFS watch folders (§3.4).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ..inotify import FLAG_KINDS, ISDIR_FLAG, LOSS_FLAG, SKIP_FLAGS
from ..options import DEFAULT_PAIRING_WINDOW


class Loss(Exception):
    """The record signals lost events (IN_Q_OVERFLOW, EVENT_LOSS); skipped and counted."""


def classify(flags: list[str]) -> tuple[str | None, bool]:
    """(kind, is_dir); kind None means the record carries no file event and is skipped."""
    if LOSS_FLAG in flags:
        raise Loss()
    for f in SKIP_FLAGS:
        if f in flags:
            return None, False
    kind = "OTHER"
    for f in flags:
        k = FLAG_KINDS.get(f)
        if k is not None:
            kind = k
            break
    return kind, ISDIR_FLAG in flags


class RenamePairer:
    """IN_MOVED_FROM + IN_MOVED_TO with one cookie -> one RENAME, emitted with the TO.

    A FROM whose TO has not arrived within ``window`` further records (or by the
    end of input) becomes MOVED_OUT; a TO without FROM becomes MOVED_IN.
    """

    def __init__(self, window: int = DEFAULT_PAIRING_WINDOW) -> None:
        self.window = window
        self.pending: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()

    def expire(self, index: int) -> list[dict[str, Any]]:
        out = []
        while self.pending:
            cookie, (added, ev) = next(iter(self.pending.items()))
            if index - added <= self.window:
                break
            del self.pending[cookie]
            out.append(_moved_out(ev))
        return out

    def add(self, index: int, ev: dict[str, Any], cookie: str | None) -> list[dict[str, Any]]:
        """Feed one decoded event (kind MOVED_FROM/MOVED_TO or final); returns events to emit now."""
        kind = ev["kind"]
        if kind == "MOVED_FROM":
            if not cookie:
                return [_moved_out(ev)]
            out = []
            old = self.pending.pop(cookie, None)
            if old is not None:
                out.append(_moved_out(old[1]))
            self.pending[cookie] = (index, ev)
            return out
        if kind == "MOVED_TO":
            src = self.pending.pop(cookie, None) if cookie else None
            if src is None:
                ev["kind"] = "MOVED_IN"
                return [ev]
            ev["kind"] = "RENAME"
            ev["old_path"] = src[1]["path"]
            ev["is_dir"] = ev["is_dir"] or src[1]["is_dir"]
            return [ev]
        return [ev]

    def finish(self) -> list[dict[str, Any]]:
        out = [_moved_out(ev) for _, ev in self.pending.values()]
        self.pending.clear()
        return out


def _moved_out(ev: dict[str, Any]) -> dict[str, Any]:
    ev["kind"] = "MOVED_OUT"
    return ev
