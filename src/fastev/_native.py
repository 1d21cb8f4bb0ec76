"""Decide once, at import, whether the native core is used.

FASTEV_NO_EXTENSIONS=1 forces the pure-Python reference (as yarl/multidict do).
Without it, each facade tries its native module; a failed import falls back
to the reference for that module only and is recorded in NATIVE_IMPORT_ERRORS,
so a test fails when an extension silently did not load.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")
NATIVE_IMPORT_ERRORS: dict[str, BaseException] = {}


def use_native() -> bool:
    return not NO_EXTENSIONS


def record_import_error(exc: BaseException, module: str = "") -> None:
    NATIVE_IMPORT_ERRORS[module or getattr(exc, "name", None) or repr(exc)] = exc


def load(native: str, reference: ModuleType | str) -> tuple[ModuleType, str]:
    """The facade's implementation: ``fastev._core.<native>``, else ``reference`` (recording why).

    ``reference`` may be a module name, imported only when the native module is
    not used: production code then runs without ``fastev._ref`` (the oracle).
    """
    if use_native():
        try:
            module = importlib.import_module(f"fastev._core.{native}")
        except ImportError as exc:
            record_import_error(exc, native)
        else:
            return module, "native"
    if isinstance(reference, str):
        reference = importlib.import_module(reference)
    return reference, "reference"
