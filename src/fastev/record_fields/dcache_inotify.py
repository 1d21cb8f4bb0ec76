"""Which fields of a dCache storage-event frame (docs/formats.md §3.2) the decoders read.

Shared by the native codec and the reference: a repeated read field rejects the
record (docs/formats.md §5).
"""
from __future__ import annotations

from typing import Any

__all__ = ("DATA_READ", "SYSTEM_READ")

DATA_READ: dict[str, Any] = {"event": {"name": None, "mask": None, "cookie": None}, "subscription": None}
SYSTEM_READ: dict[str, Any] = {"type": None}
