"""Every writer takes an event in both forms the API hands out: StorageEvent (decode) and dict (Decoder)."""
from __future__ import annotations

import io
from types import MappingProxyType, ModuleType

import fastavro
import pytest

import fastev
import fastev.avro
from fastev.event import StorageEvent

from ..conftest import SAMPLES
from .impls import native

SAMPLE = (SAMPLES / "dcache-billing.jsonl").read_bytes()


def decoded() -> tuple[list[StorageEvent], list[dict[str, object]]]:
    objects = fastev.decode(SAMPLE, "dcache-billing").events
    dec = fastev.Decoder("dcache-billing")
    dicts = dec.feed(SAMPLE).events + dec.finish().events
    assert objects and [e.to_dict() for e in objects] == dicts
    return objects, dicts


def test_encode_event_takes_storage_events_dicts_and_mappings(avro: ModuleType) -> None:
    objects, dicts = decoded()
    for ev, d in zip(objects, dicts, strict=True):
        assert avro.encode_event(ev) == avro.encode_event(d) == avro.encode_event(MappingProxyType(d))


def test_ocf_writer_takes_storage_events_and_dicts(avro: ModuleType) -> None:
    objects, dicts = decoded()
    files = []
    for events in (objects, dicts):
        buf = io.BytesIO()
        with avro.OcfWriter(buf, sync_marker=b"s" * 16) as w:
            w.write_events(events)
            w.write_event(events[0])
        files.append(buf.getvalue())
    assert files[0] == files[1]
    back = list(fastavro.reader(io.BytesIO(files[0])))
    assert [e["id"] for e in back] == [e.id for e in objects] + [objects[0].id]


def test_native_write_buffer_takes_storage_events() -> None:
    avro = native()
    if avro is None:
        pytest.skip("native extension disabled by FASTEV_NO_EXTENSIONS")
    objects, _ = decoded()
    buf = avro.WriteBuffer()
    buf.write_event(objects[0])
    assert buf.getvalue() == avro.encode_event(objects[0])


@pytest.mark.parametrize("bad", [None, 5, "event", b"event", [("id", "x")]])
def test_anything_else_is_one_clear_type_error(avro: ModuleType, bad: object) -> None:
    with pytest.raises(TypeError, match="an event is a StorageEvent or a mapping of its fields, not"):
        avro.encode_event(bad)


def test_public_module_and_package_agree() -> None:
    objects, _ = decoded()
    assert fastev.avro.encode_event(objects[0]) == fastev.avro.encode_event(objects[0].to_dict())


def test_fastev_avro_is_reachable_from_the_package() -> None:
    import subprocess
    import sys

    code = "import fastev; print(fastev.avro.encode_event.__name__, 'avro' in dir(fastev))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["encode_event", "True"]
