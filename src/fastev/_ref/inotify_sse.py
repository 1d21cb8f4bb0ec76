"""dCache storage events over SSE (docs/formats.md §3.2): one dispatched frame -> event.

Framing (W3C HTML "server-sent events", §9.2.6 interpreting an event stream)
lives in framing.py; this module turns one frame's type and data into an event.
"""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .fields import Reject, Skip, obj_or_none, path_field, scalar_text, text
from .inotify_flags import Loss, classify
from .jsonparse import JNum, JObj
from .paths import canonical_path
from .record import new_event

DATA_READ: dict[str, Any] = {"event": {"name": None, "mask": None, "cookie": None}, "subscription": None}
SYSTEM_READ: dict[str, Any] = {"type": None}


def load_watches(watches: dict[str, str] | None) -> dict[str, str]:
    """Subscription URL (or its last path segment) -> canonical watched directory."""
    out: dict[str, str] = {}
    for key, directory in (watches or {}).items():
        if not isinstance(key, str) or not isinstance(directory, str):
            raise ConfigError(f"inotify watches: {key!r} must map a subscription to a directory path")
        p = canonical_path(directory)
        if p is None:
            raise ConfigError(f"inotify watches: {directory!r} (for {key!r}) is not a canonical absolute path")
        out[key] = p
    return out


def watched_dir(watches: dict[str, str], subscription: str) -> str | None:
    d = watches.get(subscription)
    if d is None:
        segment = subscription.rstrip("/").rsplit("/", 1)[-1]
        d = watches.get(segment)
    return d


def decode_system(data: JObj) -> None:
    """SYSTEM frames never become events; EVENT_LOSS is a loss signal."""
    kind = text(data, "type")
    if kind == "EVENT_LOSS":
        raise Loss()
    raise Skip()


def decode_inotify(data: JObj, watches: dict[str, str], sse_id: str | None,
                   now_us: int) -> tuple[dict[str, Any], str | None] | None:
    """(event, cookie), or None when the frame carries no file event."""
    inner = obj_or_none(data, "event")
    if inner is None:
        raise Reject("missing-field", "event")
    mask = inner.get("mask")
    if mask is None:
        raise Reject("missing-field", "event.mask")
    if not isinstance(mask, list) or any(isinstance(m, JNum) or not isinstance(m, str) for m in mask):
        raise Reject("wrong-type", "event.mask")
    kind, is_dir = classify(mask)
    if kind is None:
        return None
    subscription = text(data, "subscription", required=True)
    assert subscription is not None
    directory = watched_dir(watches, subscription)
    if directory is None:
        raise Reject("unknown-subscription", "subscription")
    name = text(inner, "name", "event")
    if name is not None and "/" in name:
        raise Reject("non-canonical-path", "event.name")  # a child name, never a path
    path = directory if name is None else path_field(f"{directory}/{name}", "event.name")
    cookie = scalar_text(inner, "cookie", "event")
    ev = new_event("DCACHE_INOTIFY", kind, "|".join(mask), now_us, path)
    ev["is_dir"] = is_dir
    attrs = ev["attrs"]
    if sse_id is not None:
        attrs["sse_id"] = sse_id
    if cookie is not None:
        attrs["cookie"] = cookie
    attrs["subscription"] = subscription.rstrip("/").rsplit("/", 1)[-1]
    return ev, cookie
