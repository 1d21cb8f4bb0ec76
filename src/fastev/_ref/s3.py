"""S3 bucket notifications, AWS / MinIO / Ceph RGW (docs/formats.md §3.6) -> event dicts.

One message holds ``Records``; each record is one event, with its index in
the message mixed into the event id. Error fields name the record:
``Records[1].eventTime``.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

from .fields import Reject, json_int, obj_or_none, path_field, scalar_text, text
from .jsonparse import JObj
from .record import new_event
from .timeparse import parse_iso8601

RECORD_READ: dict[str, Any] = {
    "eventName": None, "eventTime": None, "eventSource": None, "awsRegion": None,
    "userIdentity": {"principalId": None},
    "requestParameters": {"sourceIPAddress": None},
    "s3": {"bucket": {"name": None},
           "object": {"key": None, "size": None, "eTag": None, "versionId": None, "sequencer": None}},
}
MESSAGE_READ: dict[str, Any] = {"Records": None}
_PERCENT = re.compile(r"%(?![0-9a-fA-F]{2})")


def kind_of(name: str) -> str:
    if name.startswith("ObjectCreated:"):
        return "UPLOAD"
    if name.startswith("ObjectRemoved:"):
        return "DELETE"
    if name == "ObjectRestore:Completed":
        return "STAGE"
    if name.startswith("ObjectAccessed:"):
        return "DOWNLOAD"
    return "OTHER"


def decode_key(key: str, field: str) -> str:
    """Form-URL-decode an object key: ``+`` is a space, ``%XX`` a byte; the result must be UTF-8."""
    if _PERCENT.search(key):
        raise Reject("non-canonical-path", field)
    try:
        return unquote_to_bytes(key.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        raise Reject("non-canonical-path", field) from None


def decode_s3_record(rec: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(rec, JObj):
        raise Reject("not-an-object", prefix)
    name = text(rec, "eventName", prefix, required=True)
    assert name is not None
    if name.startswith("s3:"):
        name = name[3:]
    t = text(rec, "eventTime", prefix, required=True)
    assert t is not None
    time_us = parse_iso8601(t)
    if time_us is None:
        raise Reject("bad-time", prefix + ".eventTime")
    s3 = obj_or_none(rec, "s3", prefix)
    if s3 is None:
        raise Reject("missing-field", prefix + ".s3")
    bucket_obj = obj_or_none(s3, "bucket", prefix + ".s3")
    if bucket_obj is None:
        raise Reject("missing-field", prefix + ".s3.bucket")
    bucket = text(bucket_obj, "name", prefix + ".s3.bucket", required=True)
    obj = obj_or_none(s3, "object", prefix + ".s3")
    if obj is None:
        raise Reject("missing-field", prefix + ".s3.object")
    op = prefix + ".s3.object"
    key = text(obj, "key", op, required=True)
    assert bucket is not None and key is not None
    path = path_field(f"/{bucket}/{decode_key(key, op + '.key')}", op + ".key")
    ev = new_event("S3", kind_of(name), name, time_us, path)
    ev["size"] = json_int(obj, "size", op, text_ok=True)
    etag = text(obj, "eTag", op)
    ev["file_id"] = text(obj, "versionId", op) or etag
    sequencer = text(obj, "sequencer", op)
    ident = obj_or_none(rec, "userIdentity", prefix)
    ev["user"] = text(ident, "principalId", prefix + ".userIdentity") if ident is not None else None
    params = obj_or_none(rec, "requestParameters", prefix)
    if params is not None:
        ev["client"] = text(params, "sourceIPAddress", prefix + ".requestParameters")
    ev["protocol"] = "s3"
    ev["system"] = text(rec, "eventSource", prefix)
    region = scalar_text(rec, "awsRegion", prefix)
    attrs = ev["attrs"]
    attrs["bucket"] = bucket
    for k, v in (("sequencer", sequencer), ("eTag", etag), ("awsRegion", region)):
        if v is not None:
            attrs[k] = v
    return ev


def s3_records(msg: JObj) -> list[Any]:
    records = msg.get("Records")
    if records is None:
        return []  # e.g. s3:TestEvent: no object event inside
    if not isinstance(records, list):
        raise Reject("wrong-type", "Records")
    return records
