"""The event dict every reference decoder fills (docs/formats.md §1 field names)."""
from __future__ import annotations

from typing import Any


def new_event(source: str, kind: str, raw_type: str, time_us: int, path: str) -> dict[str, Any]:
    return {
        "id": "",
        "source": source,
        "kind": kind,
        "raw_type": raw_type,
        "time_us": time_us,
        "path": path,
        "old_path": None,
        "is_dir": False,
        "size": None,
        "bytes": None,
        "duration_ms": None,
        "status": 0,
        "status_msg": None,
        "file_id": None,
        "user": None,
        "uid": None,
        "gid": None,
        "groups": [],
        "client": None,
        "protocol": None,
        "system": None,
        "storage_class": None,
        "attrs": {},
    }
