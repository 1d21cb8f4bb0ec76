"""Fail loudly when the native core silently did not load (as multidict/yarl do)."""
from __future__ import annotations

from fastev import _native, acl, avro
from fastev import decoding as decode
from fastev.kafka import native_publisher

from .conftest import NATIVE_EXPECTED


def test_implementation_is_the_one_asked_for() -> None:
    expected = "native" if NATIVE_EXPECTED else "reference"
    assert (decode.IMPLEMENTATION, acl.IMPLEMENTATION, avro.IMPLEMENTATION, native_publisher.IMPLEMENTATION) == (
        expected,) * 4
    if NATIVE_EXPECTED:
        assert _native.NATIVE_IMPORT_ERRORS == {}
