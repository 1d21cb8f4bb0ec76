"""dCache billing records (docs/formats.md §3.1) -> event dict.

Fields are read in a fixed order; the first bad one decides the reason, and
the native decoder (``_core/billing.pxi``) reads them in the same order.
"""
from __future__ import annotations

import re
from typing import Any

from ..options import MAX_GROUPS
from .fields import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    Reject,
    Skip,
    boolean,
    json_int,
    obj_or_none,
    path_field,
    scalar_text,
    text,
)
from .jsonparse import JNum, JObj
from .record import new_event

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

_PRINCIPAL = re.compile(r"([A-Za-z]+)\[(.*)\]\Z", re.S)
_DIGITS = re.compile(r"[0-9]+\Z")


def _kind(msg_type: str, rec: JObj) -> str:
    if msg_type == "transfer":
        is_p2p = boolean(rec, "isP2p")
        is_write = text(rec, "isWrite")
        if is_p2p:
            return "REPLICATE"
        if is_write == "write":
            return "UPLOAD"
        if is_write == "read":
            return "DOWNLOAD"
        return "OTHER"
    cell_type = text(rec, "cellType")
    if msg_type == "remove":
        return {"door": "DELETE", "pool": "EVICT"}.get(cell_type or "", "OTHER")
    return {"request": "REQUEST", "store": "FLUSH", "restore": "STAGE"}.get(msg_type, "OTHER")


def _path(rec: JObj) -> str:
    for key in ("transferPath", "billingPath"):
        p = text(rec, key)
        if p is not None and p != "Unknown":
            return path_field(p, key)
    return ""


def _principal_id(value: str) -> int:
    if _DIGITS.match(value) is None:
        raise Reject("wrong-type", "subject")
    n = int(value)
    if n > INT64_MAX:
        raise Reject("out-of-range", "subject")
    return n


class _Subject:
    """What the ``subject`` principals say about the acting identity."""

    __slots__ = ("user", "dn", "uid", "gid_primary", "gid_first", "groups", "origin")

    def __init__(self, subject: Any) -> None:
        self.user: str | None = None
        self.dn: str | None = None
        self.uid: int | None = None
        self.gid_primary: int | None = None
        self.gid_first: int | None = None
        self.groups: list[str] = []
        self.origin: str | None = None
        if subject is None:
            return
        if not isinstance(subject, list):
            raise Reject("wrong-type", "subject")
        for item in subject:
            if isinstance(item, JNum) or not isinstance(item, str):
                raise Reject("wrong-type", "subject")
            self._add(item)

    def _add(self, item: str) -> None:
        if item.startswith("/"):
            if self.dn is None:
                self.dn = item
            return
        m = _PRINCIPAL.match(item)
        if m is None:
            return
        name, value = m.group(1), m.group(2)
        primary = value.endswith(",primary")
        if primary:
            value = value[: -len(",primary")]
        if name == "UserNamePrincipal":
            if self.user is None and value:
                self.user = value
        elif name == "UidPrincipal":
            uid = _principal_id(value)
            if self.uid is None:
                self.uid = uid
        elif name == "GidPrincipal":
            gid = _principal_id(value)
            if self.gid_first is None:
                self.gid_first = gid
            if primary and self.gid_primary is None:
                self.gid_primary = gid
        elif name in ("FQANPrincipal", "GroupNamePrincipal", "OpenIdGroup"):
            if value and value not in self.groups:   # at most MAX_GROUPS long: linear per record
                if len(self.groups) >= MAX_GROUPS:
                    raise Reject("out-of-range", "subject")
                self.groups.append(value)
        elif name == "Origin":
            if self.origin is None and value:
                self.origin = value


def decode_billing(rec: JObj) -> dict[str, Any]:
    from .timeparse import parse_iso8601

    msg_type = text(rec, "msgType", required=True)
    assert msg_type is not None
    if msg_type == "warning":
        raise Skip()
    date = text(rec, "date", required=True)
    assert date is not None
    time_us = parse_iso8601(date)
    if time_us is None:
        raise Reject("bad-time", "date")
    kind = _kind(msg_type, rec)
    ev = new_event("DCACHE_BILLING", kind, msg_type, time_us, _path(rec))

    size = json_int(rec, "fileSize")
    ev["size"] = size if size is not None else json_int(rec, "filesize")
    ev["bytes"] = json_int(rec, "transferSize")
    ev["duration_ms"] = json_int(rec, "transferTime")
    status = obj_or_none(rec, "status")
    if status is not None:
        code = json_int(status, "code", "status", lo=INT32_MIN, hi=INT32_MAX)
        ev["status"] = code if code is not None else 0
        ev["status_msg"] = text(status, "msg", "status")
    ev["file_id"] = text(rec, "pnfsid")
    ev["storage_class"] = text(rec, "storageInfo")
    cell, domain = text(rec, "cellName"), text(rec, "cellDomain")
    ev["system"] = f"{cell}@{domain}" if cell and domain else cell

    subject = _Subject(rec.get("subject"))
    owner = text(rec, "owner")
    mapped_uid = json_int(rec, "mappedUID")
    mapped_gid = json_int(rec, "mappedGID")
    ev["user"] = subject.user or subject.dn or owner
    ev["uid"] = subject.uid if subject.uid is not None else mapped_uid
    gid = subject.gid_primary if subject.gid_primary is not None else subject.gid_first
    ev["gid"] = gid if gid is not None else mapped_gid
    ev["groups"] = subject.groups

    attrs: dict[str, str] = ev["attrs"]
    version = scalar_text(rec, "version") or scalar_text(rec, "VERSION")
    if version is not None:
        attrs["version"] = version
    cell_type = text(rec, "cellType")
    if cell_type is not None:
        attrs["cellType"] = cell_type

    pinfo = obj_or_none(rec, "protocolInfo")
    client = None
    if pinfo is not None:
        client = text(pinfo, "host", "protocolInfo")
        proto = text(pinfo, "protocol", "protocolInfo")
        major = json_int(pinfo, "versionMajor", "protocolInfo")
        minor = json_int(pinfo, "versionMinor", "protocolInfo")
        if proto is not None:
            ev["protocol"] = f"{proto}-{major}.{minor}" if major is not None and minor is not None else proto
        for key in ("transferTag", "port"):
            value = scalar_text(pinfo, key, "protocolInfo")
            if value is not None:
                attrs[key] = value
    door_client = text(rec, "client")
    ev["client"] = client or door_client or subject.origin
    hit_protocol = text(rec, "protocol")  # hit records: "Https-1.1:host:port:door:domain:path"
    if ev["protocol"] is None and hit_protocol is not None:
        ev["protocol"] = hit_protocol.split(":", 1)[0] or None

    hsm = obj_or_none(rec, "hsm")
    if hsm is not None:
        for key in ("type", "instance", "provider"):
            value = scalar_text(hsm, key, "hsm")
            if value is not None:
                attrs["hsm_" + key] = value
    for key in ATTR_KEYS:
        value = scalar_text(rec, key)
        if value is not None:
            attrs[key] = value
    return ev
