"""The plain-Python way a user would otherwise write it: parse JSON, map to a dict, fastavro-encode.

Three peers share one mapping per source: (a) ``json.loads``, (b) ``orjson.loads``,
(c) ``msgspec`` typed decode into Structs. Validation is what such scripts
usually do (a KeyError or TypeError drops the record), i.e. less than fastev.
"""
from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

import fastavro
import msgspec
import orjson

from ..event import schema

PARSED_SCHEMA = fastavro.parse_schema(schema())
_SOURCE = {"dcache-billing": "DCACHE_BILLING", "gpfs-audit": "GPFS_AUDIT", "gpfs-watch": "GPFS_WATCH",
           "s3": "S3"}
_BILLING_KIND = {"request": "REQUEST", "store": "FLUSH", "restore": "STAGE"}
_GPFS_KIND = {"CREATE": "CREATE", "OPEN": "OPEN", "CLOSE": "CLOSE", "CLOSEWRITE": "CLOSE_WRITE",
              "UNLINK": "DELETE", "RENAME": "RENAME", "XATTRCHANGE": "ATTRIB"}
_WATCH_KIND = {"IN_CREATE": "CREATE", "IN_CLOSE_WRITE": "CLOSE_WRITE", "IN_DELETE": "DELETE",
               "IN_MODIFY": "MODIFY"}


def _iso_us(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1_000_000)


def _gpfs_us(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d_%H:%M:%S.%f%z").timestamp() * 1_000_000)


def _base(source: str, kind: str, raw_type: str, time_us: int, path: str, raw: bytes) -> dict[str, Any]:
    return {"id": hashlib.blake2b(raw, digest_size=16).hexdigest(), "source": source, "kind": kind,
            "raw_type": raw_type, "time_us": time_us, "path": path, "old_path": None, "is_dir": False,
            "size": None, "bytes": None, "duration_ms": None, "status": 0, "status_msg": None,
            "file_id": None, "user": None, "uid": None, "gid": None, "groups": [], "client": None,
            "protocol": None, "system": None, "storage_class": None, "attrs": {}}


_BILLING_ATTRS = ("session", "transaction", "initiator", "queuingTime", "sessionDuration", "clientChain",
                  "localEndpoint", "meanReadBandwidth", "meanWriteBandwidth", "readIdle", "readActive",
                  "writeIdle", "writeActive", "cached")


def _text(v: Any) -> str | None:
    """The attrs text of a JSON scalar, as fastev writes it (no literal-preserving parser here)."""
    if v is None or v == "":
        return None
    if v is True or v is False:
        return "true" if v else "false"
    return str(v)


def _canon(path: str) -> str:
    return "/" + "/".join(p for p in path.split("/") if p) if path else ""


def map_billing(d: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """The same normalised event fastev produces (docs/formats.md §3.1), written the plain way."""
    mt = d["msgType"]
    if mt == "transfer":
        w = d.get("isWrite")
        kind = "REPLICATE" if d.get("isP2p") else ("UPLOAD" if w == "write" else "DOWNLOAD" if w == "read"
                                                   else "OTHER")
    elif mt == "remove":
        kind = {"door": "DELETE", "pool": "EVICT"}.get(d.get("cellType") or "", "OTHER")
    else:
        kind = _BILLING_KIND.get(mt, "OTHER")
    path = d.get("transferPath")
    if not path or path == "Unknown":
        path = d.get("billingPath")
        if not path or path == "Unknown":
            path = ""
    ev = _base("DCACHE_BILLING", kind, mt, _iso_us(d["date"]), _canon(path), raw)
    size = d.get("fileSize")
    ev["size"] = size if size is not None else d.get("filesize")
    ev["bytes"] = d.get("transferSize")
    ev["duration_ms"] = d.get("transferTime")
    st = d.get("status") or {}
    ev["status"] = st.get("code", 0)
    ev["status_msg"] = st.get("msg") or None
    ev["file_id"] = d.get("pnfsid") or None
    ev["storage_class"] = d.get("storageInfo") or None
    cell, domain = d.get("cellName"), d.get("cellDomain")
    ev["system"] = f"{cell}@{domain}" if cell and domain else cell or None
    user = dn = uid = gid = gid_first = origin = None
    groups: list[str] = []
    for p in d.get("subject") or ():
        if p.startswith("/"):
            dn = dn or p
            continue
        name, _, value = p.partition("[")
        value = value[:-1]
        primary = value.endswith(",primary")
        value = value.removesuffix(",primary")
        if name == "UserNamePrincipal":
            user = user or value
        elif name == "UidPrincipal":
            uid = int(value) if uid is None else uid
        elif name == "GidPrincipal":
            gid_first = int(value) if gid_first is None else gid_first
            if primary and gid is None:
                gid = int(value)
        elif name in ("FQANPrincipal", "GroupNamePrincipal", "OpenIdGroup") and value not in groups:
            groups.append(value)
        elif name == "Origin":
            origin = origin or value
    ev["user"] = user or dn or d.get("owner") or None
    ev["uid"] = uid if uid is not None else d.get("mappedUID")
    gid = gid if gid is not None else gid_first
    ev["gid"] = gid if gid is not None else d.get("mappedGID")
    ev["groups"] = groups
    attrs: dict[str, str] = {}
    version = _text(d.get("version")) or _text(d.get("VERSION"))
    if version:
        attrs["version"] = version
    if d.get("cellType"):
        attrs["cellType"] = d["cellType"]
    client = None
    pi = d.get("protocolInfo")
    if pi:
        client = pi.get("host") or None
        proto = pi.get("protocol")
        if proto:
            major, minor = pi.get("versionMajor"), pi.get("versionMinor")
            ev["protocol"] = f"{proto}-{major}.{minor}" if major is not None and minor is not None else proto
        for key in ("transferTag", "port"):
            v = _text(pi.get(key))
            if v is not None:
                attrs[key] = v
    ev["client"] = client or d.get("client") or origin
    hsm = d.get("hsm")
    if hsm:
        for key in ("type", "instance", "provider"):
            v = _text(hsm.get(key))
            if v is not None:
                attrs["hsm_" + key] = v
    for key in _BILLING_ATTRS:
        v = _text(d.get(key))
        if v is not None:
            attrs[key] = v
    ev["attrs"] = attrs
    return ev


def map_gpfs(d: dict[str, Any], raw: bytes, watch: bool = False) -> dict[str, Any]:
    table = _WATCH_KIND if watch else _GPFS_KIND
    ev = _base("GPFS_WATCH" if watch else "GPFS_AUDIT", table.get(d["event"], "OTHER"), d["event"],
               _gpfs_us(d["eventTime"]), d["path"], raw)
    ev["size"] = int(d["fileSize"])
    ev["file_id"] = d.get("inode")
    ev["uid"] = int(d["clientUserId"])
    ev["gid"] = int(d["clientGroupId"])
    ev["client"] = d.get("nfsClientIp") or None
    ev["system"] = f"{d['clusterName']}/{d['fsName']}"
    ev["storage_class"] = d.get("poolName")
    ev["attrs"] = {k: str(d[k]) for k in ("nodeName", "processId", "linkCount") if d.get(k)}
    return ev


def map_s3(d: dict[str, Any], raw: bytes) -> list[dict[str, Any]]:
    out = []
    for r in d["Records"]:
        obj = r["s3"]["object"]
        bucket = r["s3"]["bucket"]["name"]
        name = r["eventName"].removeprefix("s3:")
        kind = "UPLOAD" if name.startswith("ObjectCreated") else (
            "DELETE" if name.startswith("ObjectRemoved") else "OTHER")
        ev = _base("S3", kind, name, _iso_us(r["eventTime"]), f"/{bucket}/{unquote_plus(obj['key'])}", raw)
        ev["size"] = int(obj["size"]) if "size" in obj else None
        ev["file_id"] = obj.get("versionId") or obj.get("eTag")
        ev["user"] = r["userIdentity"]["principalId"]
        ev["client"] = r["requestParameters"]["sourceIPAddress"]
        ev["protocol"] = "s3"
        ev["system"] = r["eventSource"]
        ev["attrs"] = {"bucket": bucket, "sequencer": obj.get("sequencer", "")}
        out.append(ev)
    return out


def mapper(source: str) -> Callable[[dict[str, Any], bytes], list[dict[str, Any]]]:
    if source == "dcache-billing":
        return lambda d, raw: [map_billing(d, raw)]
    if source == "gpfs-audit":
        return lambda d, raw: [map_gpfs(d, raw)]
    if source == "gpfs-watch":
        return lambda d, raw: [map_gpfs(d, raw, watch=True)]
    if source == "s3":
        return map_s3
    raise ValueError(f"no peer for {source}")


# msgspec peer: typed decode of the fields the mapping reads.
class _Status(msgspec.Struct):
    code: int = 0
    msg: str = ""


class _ProtocolInfo(msgspec.Struct):
    protocol: str = ""
    versionMajor: int = 0  # noqa: N815 - source field names
    versionMinor: int = 0  # noqa: N815
    host: str | None = None
    transferTag: str | None = None  # noqa: N815
    port: int | None = None


class _Billing(msgspec.Struct):
    msgType: str  # noqa: N815
    date: str
    isP2p: bool = False  # noqa: N815
    isWrite: str | None = None  # noqa: N815
    transferPath: str | None = None  # noqa: N815
    billingPath: str | None = None  # noqa: N815
    fileSize: int | None = None  # noqa: N815
    transferSize: int | None = None  # noqa: N815
    transferTime: int | None = None  # noqa: N815
    status: _Status | None = None
    pnfsid: str | None = None
    storageInfo: str | None = None  # noqa: N815
    cellName: str | None = None  # noqa: N815
    cellDomain: str | None = None  # noqa: N815
    subject: list[str] = []
    protocolInfo: _ProtocolInfo | None = None  # noqa: N815
    client: str | None = None
    owner: str | None = None
    mappedUID: int | None = None  # noqa: N815
    mappedGID: int | None = None  # noqa: N815
    version: str | None = None
    VERSION: str | None = None
    cellType: str | None = None  # noqa: N815
    session: str | None = None
    transaction: str | None = None
    initiator: str | None = None
    queuingTime: int | None = None  # noqa: N815
    sessionDuration: int | None = None  # noqa: N815
    clientChain: str | None = None  # noqa: N815
    localEndpoint: str | None = None  # noqa: N815
    meanReadBandwidth: float | None = None  # noqa: N815
    meanWriteBandwidth: float | None = None  # noqa: N815


def _struct_to_dict(obj: Any) -> Any:
    if isinstance(obj, msgspec.Struct):
        return {f: _struct_to_dict(getattr(obj, f)) for f in obj.__struct_fields__
                if getattr(obj, f) is not None}
    return obj


_MSGSPEC_DECODERS: dict[str, Any] = {"dcache-billing": msgspec.json.Decoder(_Billing)}


def make_peer(source: str, parser: str) -> Callable[[list[bytes]], bytes]:
    """A function encoding a list of raw records to concatenated Avro, the plain way."""
    mapping = mapper(source)
    if parser == "json":
        loads: Callable[[bytes], Any] = json.loads
    elif parser == "orjson":
        loads = orjson.loads
    elif parser == "msgspec":
        typed = _MSGSPEC_DECODERS.get(source)
        if typed is not None:
            def loads(raw: bytes) -> Any:
                return _struct_to_dict(typed.decode(raw))
        else:
            loads = msgspec.json.decode
    else:
        raise ValueError(parser)
    write = fastavro.schemaless_writer
    schema_ = PARSED_SCHEMA

    def run(records: list[bytes]) -> bytes:
        buf = io.BytesIO()
        for raw in records:
            try:
                events = mapping(loads(raw), raw)
            except (KeyError, TypeError, ValueError):
                continue
            for ev in events:
                write(buf, schema_, ev)
        return buf.getvalue()

    return run
