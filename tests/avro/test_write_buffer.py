"""The native WriteBuffer's Python face: growth, mark/rollback, memory errors."""
from __future__ import annotations

from typing import Any

import pytest

from fastev._ref.avro import encode_event

from .impls import native
from .strategies import transfer_event


@pytest.fixture
def avro() -> Any:
    module = native()
    if module is None:
        pytest.skip("native extension disabled by FASTEV_NO_EXTENSIONS")
    return module


def test_grows_and_resets(avro: Any) -> None:
    buf = avro.WriteBuffer()
    assert len(buf) == 0 and buf.getvalue() == b""
    chunk = bytes(range(256))
    for _ in range(1000):
        buf.write(chunk)
    assert len(buf) == 256_000 and buf.getvalue() == chunk * 1000
    buf.reset()
    assert len(buf) == 0 and buf.getvalue() == b""


def test_events_append_and_bad_event_is_rolled_back(avro: Any) -> None:
    buf = avro.WriteBuffer(16)
    ev = transfer_event()
    buf.write_event(ev)
    pos = buf.tell()
    with pytest.raises(ValueError, match=r"^groups\[1\]"):
        buf.write_event(dict(ev, groups=["a", 1]))
    assert buf.tell() == pos
    buf.write_event(ev)
    assert buf.getvalue() == encode_event(ev) * 2
    buf.truncate(pos)
    assert buf.getvalue() == encode_event(ev)
    with pytest.raises(ValueError):
        buf.truncate(pos + 1)


def test_impossible_growth_raises_memory_error(avro: Any) -> None:
    with pytest.raises(MemoryError):
        avro.WriteBuffer(1 << 61)
    buf = avro.WriteBuffer(8)
    buf.write(b"abc")
    assert buf.getvalue() == b"abc"  # still usable
