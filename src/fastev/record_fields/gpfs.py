"""Which fields of GPFS audit (docs/formats.md §3.3) and watch-folder (§3.4) records the decoders read.

Shared by the native codec and the reference: a repeated read field rejects the
record (docs/formats.md §5); the *_ATTRS tuples fix the order of ``attrs``.
"""
from __future__ import annotations

from typing import Any

__all__ = ("AUDIT_ATTRS", "AUDIT_READ", "COMMON", "WATCH_ATTRS", "WATCH_READ")

AUDIT_ATTRS = ("nodeName", "processId", "openFlags", "linkCount", "ownerUserId", "ownerGroupId",
               "permissions")
WATCH_ATTRS = ("nodeName", "wd", "cookie", "mask", "filesetID", "linkCount", "openFlags",
               "ownerUserId", "ownerGroupId")
COMMON = ("event", "path", "eventTime", "fileSize", "inode", "clientUserId", "clientGroupId",
           "nfsClientIp", "clusterName", "fsName", "poolName")
AUDIT_READ: dict[str, Any] = {k: None for k in COMMON + AUDIT_ATTRS + ("oldPath", "bytesRead",
                                                                       "bytesWritten")}
WATCH_READ: dict[str, Any] = {k: None for k in COMMON + WATCH_ATTRS}
