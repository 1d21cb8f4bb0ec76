"""Which fields of an S3 notification (docs/formats.md §3.6) the decoders read.

Shared by the native codec and the reference: a repeated read field rejects the
record (docs/formats.md §5).
"""
from __future__ import annotations

from typing import Any

__all__ = ("MESSAGE_READ", "RECORD_READ")

RECORD_READ: dict[str, Any] = {
    "eventName": None, "eventTime": None, "eventSource": None, "awsRegion": None,
    "userIdentity": {"principalId": None},
    "requestParameters": {"sourceIPAddress": None},
    "s3": {"bucket": {"name": None},
           "object": {"key": None, "size": None, "eTag": None, "versionId": None, "sequencer": None}},
}
MESSAGE_READ: dict[str, Any] = {"Records": None}
