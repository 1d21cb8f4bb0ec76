"""inotify vocabulary shared by both decoders (docs/formats.md §3.2, §3.4, §3.5).

The flag -> kind table, the flags that are skipped or signal loss, and the
dCache subscription -> watched directory table (the move-pairing window's
default and limits are decoder options: fastev.options).
"""
from __future__ import annotations

from .errors import ConfigError
from .paths import canonical_path

__all__ = ("FLAG_KINDS", "ISDIR_BIT", "ISDIR_FLAG", "LOSS_FLAG", "SKIP_FLAGS",
           "load_watches", "watched_dir")

FLAG_KINDS = {
    "IN_CREATE": "CREATE",
    "IN_MODIFY": "MODIFY",
    "IN_CLOSE_WRITE": "CLOSE_WRITE",
    "IN_CLOSE_NOWRITE": "CLOSE",
    "IN_OPEN": "OPEN",
    "IN_ACCESS": "ACCESS",
    "IN_ATTRIB": "ATTRIB",
    "IN_DELETE": "DELETE",
    "IN_DELETE_SELF": "DELETE",
    "IN_MOVE_SELF": "MOVED_OUT",
    "IN_MOVED_FROM": "MOVED_FROM",  # paired below, never emitted under this name
    "IN_MOVED_TO": "MOVED_TO",
}
SKIP_FLAGS = ("IN_IGNORED", "IN_UNMOUNT")
LOSS_FLAG = "IN_Q_OVERFLOW"
ISDIR_FLAG = "IN_ISDIR"
ISDIR_BIT = 0x40000000


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
