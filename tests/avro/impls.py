"""The two Avro writers under test: the reference always, the native one unless forced off.

The native module is imported directly, so a build that silently failed makes the
tests fail (ImportError), not skip; only FASTEV_NO_EXTENSIONS=1 skips it.
"""
from __future__ import annotations

import os
from types import ModuleType

from fastev._ref import avro as reference

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")


def native() -> ModuleType | None:
    if NO_EXTENSIONS:
        return None
    from fastev._core import avro  # must import when extensions are on

    return avro


IMPL_NAMES = ("reference", "native")


def impl(name: str) -> ModuleType | None:
    return reference if name == "reference" else native()
