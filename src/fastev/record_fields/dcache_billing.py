"""Which fields of a dCache billing record (docs/formats.md §3.1) the decoders read.

Shared by the native codec and the reference: a repeated read field rejects the
record (docs/formats.md §5), and ATTR_KEYS fixes the order of ``attrs``.
"""
from __future__ import annotations

from typing import Any

__all__ = ("ATTR_KEYS", "READ_FIELDS")

# Fields whose repetition rejects the record (name -> sub-tree of read fields).
READ_FIELDS: dict[str, Any] = {
    k: None for k in (
        "msgType", "date", "isP2p", "isWrite", "cellType", "transferPath", "billingPath", "fileSize",
        "filesize", "transferSize", "transferTime", "pnfsid", "storageInfo", "cellName", "cellDomain",
        "subject", "owner", "mappedUID", "mappedGID", "client", "protocol", "version", "VERSION",
        "session", "transaction", "initiator", "queuingTime", "sessionDuration", "clientChain",
        "localEndpoint", "meanReadBandwidth", "meanWriteBandwidth", "readIdle", "readActive",
        "writeIdle", "writeActive", "cached",
    )
}
READ_FIELDS["status"] = {"code": None, "msg": None}
READ_FIELDS["protocolInfo"] = {k: None for k in ("host", "protocol", "versionMajor", "versionMinor",
                                                 "transferTag", "port")}
READ_FIELDS["hsm"] = {"type": None, "instance": None, "provider": None}

# Top-level scalars copied to attrs, in this order (attrs order is part of the output).
ATTR_KEYS = ("session", "transaction", "initiator", "queuingTime", "sessionDuration", "clientChain",
             "localEndpoint", "meanReadBandwidth", "meanWriteBandwidth", "readIdle", "readActive",
             "writeIdle", "writeActive", "cached")
