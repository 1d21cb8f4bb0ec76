"""GPFS / Storage Scale file audit (docs/formats.md §3.3) and watch folder (§3.4) records -> event dict.

Every number is a JSON string in these formats; JSON numbers are accepted too.
"""
from __future__ import annotations

import re
from typing import Any

from .fields import Reject, json_int, path_field, scalar_text, text
from .inotify_flags import ISDIR_BIT, classify
from .jsonparse import JObj
from .record import new_event
from .timeparse import parse_gpfs

AUDIT_KINDS = {
    "CREATE": "CREATE", "OPEN": "OPEN", "CLOSE": "CLOSE", "CLOSEWRITE": "CLOSE_WRITE",
    "RENAME": "RENAME", "UNLINK": "DELETE", "RMDIR": "DELETE", "XATTRCHANGE": "ATTRIB",
    "ACLCHANGE": "ATTRIB", "GPFSATTRCHANGE": "ATTRIB", "ACCESS_DENIED": "ACCESS_DENIED",
}
AUDIT_ATTRS = ("nodeName", "processId", "openFlags", "linkCount", "ownerUserId", "ownerGroupId",
               "permissions")
WATCH_ATTRS = ("nodeName", "wd", "cookie", "mask", "filesetID", "linkCount", "openFlags",
               "ownerUserId", "ownerGroupId")
_COMMON = ("event", "path", "eventTime", "fileSize", "inode", "clientUserId", "clientGroupId",
           "nfsClientIp", "clusterName", "fsName", "poolName")
AUDIT_READ: dict[str, Any] = {k: None for k in _COMMON + AUDIT_ATTRS + ("oldPath", "bytesRead",
                                                                       "bytesWritten")}
WATCH_READ: dict[str, Any] = {k: None for k in _COMMON + WATCH_ATTRS}
_HEX = re.compile(r"0[xX][0-9a-fA-F]{1,16}\Z")


def _time(rec: JObj) -> int:
    t = text(rec, "eventTime", required=True)
    assert t is not None
    us = parse_gpfs(t)
    if us is None:
        raise Reject("bad-time", "eventTime")
    return us


def _common(rec: JObj, ev: dict[str, Any], attr_keys: tuple[str, ...]) -> None:
    ev["size"] = json_int(rec, "fileSize", text_ok=True)
    ev["file_id"] = scalar_text(rec, "inode")
    ev["uid"] = json_int(rec, "clientUserId", text_ok=True)
    ev["gid"] = json_int(rec, "clientGroupId", text_ok=True)
    ev["client"] = text(rec, "nfsClientIp")
    cluster, fs = text(rec, "clusterName"), text(rec, "fsName")
    ev["system"] = f"{cluster}/{fs}" if cluster and fs else (cluster or fs)
    ev["storage_class"] = text(rec, "poolName")
    attrs = ev["attrs"]
    for key in attr_keys:
        value = scalar_text(rec, key)
        if value is not None:
            attrs[key] = value


def decode_gpfs_audit(rec: JObj) -> dict[str, Any]:
    event = text(rec, "event", required=True)
    assert event is not None
    path = text(rec, "path", required=True)
    assert path is not None
    ev = new_event("GPFS_AUDIT", AUDIT_KINDS.get(event, "OTHER"), event, _time(rec), path_field(path, "path"))
    old = text(rec, "oldPath")
    if old is not None:
        ev["old_path"] = path_field(old, "oldPath")
    ev["is_dir"] = event == "RMDIR"
    _common(rec, ev, AUDIT_ATTRS)
    written = json_int(rec, "bytesWritten", text_ok=True)
    read = json_int(rec, "bytesRead", text_ok=True)
    ev["bytes"] = written if written else (read if read else None)
    return ev


def decode_gpfs_watch(rec: JObj) -> tuple[dict[str, Any], str | None] | None:
    """(event, cookie) or None when the record carries no file event."""
    event = text(rec, "event", required=True)
    assert event is not None
    kind, is_dir = classify(event.split("|"))
    if kind is None:
        return None
    path = text(rec, "path", required=True)
    assert path is not None
    ev = new_event("GPFS_WATCH", kind, event, _time(rec), path_field(path, "path"))
    mask = text(rec, "mask")
    if mask is not None:
        if _HEX.match(mask) is None:
            raise Reject("wrong-type", "mask")
        is_dir = is_dir or bool(int(mask, 16) & ISDIR_BIT)
    ev["is_dir"] = is_dir
    cookie = scalar_text(rec, "cookie")
    _common(rec, ev, WATCH_ATTRS)
    if cookie == "0":
        cookie = None
        del ev["attrs"]["cookie"]
    return ev, cookie
