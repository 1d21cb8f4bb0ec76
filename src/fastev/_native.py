"""Decide once, at import, whether the native core is used.

FASTEV_NO_EXTENSIONS=1 forces the pure-Python reference (as yarl/multidict do).
Without it, a failed native import falls back to the reference but is recorded
in NATIVE_IMPORT_ERROR, so a test can fail when the extension silently did not load.
"""
from __future__ import annotations

import os

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")
NATIVE_IMPORT_ERROR: BaseException | None = None


def use_native() -> bool:
    return not NO_EXTENSIONS and NATIVE_IMPORT_ERROR is None


def record_import_error(exc: BaseException) -> None:
    global NATIVE_IMPORT_ERROR
    NATIVE_IMPORT_ERROR = exc
