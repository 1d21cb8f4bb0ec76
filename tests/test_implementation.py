"""Fail loudly when the native core silently did not load (as multidict/yarl do)."""
from __future__ import annotations

import pytest

from fastev import _native, acl, avro, decode

from .conftest import NATIVE_EXPECTED


@pytest.mark.skipif(not NATIVE_EXPECTED, reason="FASTEV_NO_EXTENSIONS=1: the reference is under test")
def test_native_core_loaded() -> None:
    assert _native.NATIVE_IMPORT_ERRORS == {}
    assert (decode.IMPLEMENTATION, acl.IMPLEMENTATION, avro.IMPLEMENTATION) == ("native",) * 3


@pytest.mark.skipif(NATIVE_EXPECTED, reason="only with FASTEV_NO_EXTENSIONS=1")
def test_reference_forced() -> None:
    assert (decode.IMPLEMENTATION, acl.IMPLEMENTATION, avro.IMPLEMENTATION) == ("reference",) * 3
