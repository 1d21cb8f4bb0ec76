"""Transcoder: one pass from raw batch to per-route Avro, through the facade (native or reference)."""
from __future__ import annotations

import io
from pathlib import Path

import fastavro
import pytest

from fastev import Acl, RouteSpec, Transcoder, avro_schema, decode
from fastev.errors import ConfigError
from fastev.routes import load_routes

PARSED = fastavro.parse_schema({**avro_schema(), "fields": [
    {**f, "type": "long"} if f["name"] == "time_us" else f for f in avro_schema()["fields"]]})
ACL = """
[[allow]]
principals = ["group:photon", "user:carol"]
paths = ["/pnfs/lab.example/photon"]
[[deny]]
principals = ["user:carol"]
paths = ["/pnfs/lab.example/photon/tmp"]
[[allow]]
principals = ["group:tape-ops"]
paths = ["/"]
kinds = ["FLUSH", "STAGE"]
"""


def read(payload: bytes) -> dict:
    return fastavro.schemaless_reader(io.BytesIO(payload), PARSED)


@pytest.fixture()
def billing(samples: Path) -> bytes:
    return (samples / "dcache-billing.jsonl").read_bytes()


def test_routes_take_exactly_what_acl_and_filters_allow(billing: bytes) -> None:
    acl = Acl.from_text(ACL)
    routes = [RouteSpec("photon", principals=("group:photon",)),
              RouteSpec("carol", principals=("user:carol",)),
              RouteSpec("photon-and-carol", principals=("group:photon", "user:carol")),
              RouteSpec("tape", principals=("group:tape-ops",)),
              RouteSpec("uploads", paths=("/pnfs/lab.example/photon/beamtime7",), kinds=("UPLOAD",)),
              RouteSpec("all")]
    tc = Transcoder("dcache-billing", routes, acl)
    out = tc.feed(billing, final=True)
    events = {e.id: e for e in decode(billing, "dcache-billing").events}
    photon = [i for i, e in events.items() if e.path.startswith("/pnfs/lab.example/photon/")]
    carol = [i for i in photon if not events[i].path.startswith("/pnfs/lab.example/photon/tmp/")]
    assert out.ids("photon") == photon
    assert out.ids("carol") == carol
    assert out.ids("photon-and-carol") == carol  # every listed reader must be allowed
    assert out.ids("tape") == [i for i, e in events.items() if e.kind in ("FLUSH", "STAGE")]
    assert out.ids("uploads") == [i for i, e in events.items() if e.kind == "UPLOAD"
                                  and e.path.startswith("/pnfs/lab.example/photon/beamtime7/")]
    assert out.ids("all") == list(events)
    for route in out.routes:
        decoded = [read(p) for p in out.payloads(route)]
        assert decoded == [events[i].to_dict() for i in out.ids(route)]
        assert out.block(route) == b"".join(out.payloads(route))
        assert out.paths(route) == [events[i].path for i in out.ids(route)]
        assert out.count(route) == len(out.ids(route))


def test_confluent_framing(billing: bytes) -> None:
    tc = Transcoder("dcache-billing", [RouteSpec("all")], framing="confluent", schema_id=4242)
    out = tc.feed(billing, final=True)
    for p in out.payloads("all"):
        assert p[:5] == b"\x00" + (4242).to_bytes(4, "big")
        read(p[5:])


def test_feed_records_list_and_errors() -> None:
    good = b'{"msgType":"store","date":"2026-01-01T00:00:00Z","billingPath":"/a"}'
    tc = Transcoder("dcache-billing", [RouteSpec("all")])
    out = tc.feed([good, b"{", good.replace(b"/a", b"/b")])
    assert out.paths("all") == ["/a", "/b"]
    assert [(e.index, e.reason) for e in out.errors] == [(1, "invalid-json")]
    assert out.stats.rejected == 1 and out.stats.decoded == 2


def test_from_config_file(tmp_path: Path, billing: bytes) -> None:
    (tmp_path / "acl.toml").write_text(ACL)
    (tmp_path / "routes.toml").write_text('[acl]\nfile = "acl.toml"\n[[route]]\nname = "p"\n'
                                          'principals = ["group:photon"]\ntopic = "photon-events"\n')
    config = load_routes(tmp_path / "routes.toml")
    assert config.routes[0].extra == {"topic": "photon-events"}
    out = Transcoder.from_config(tmp_path / "routes.toml", "dcache-billing").feed(billing, final=True)
    assert out.count("p") == 7


@pytest.mark.parametrize(("text", "key"), [
    ('[[route]]\nname = "a"\ncolour = "red"\n', "colour"),
    ('[[route]]\nname = "a"\n[[route]]\nname = "a"\n', "duplicate"),
    ('[[route]]\nname = "a"\nprincipals = ["group:x"]\n', "acl"),
    ('[[route]]\nname = "a"\nkinds = ["UPLOADED"]\n', "UPLOADED"),
    ('[[route]]\nprincipals = []\n', "name"),
])
def test_bad_route_configs(tmp_path: Path, text: str, key: str) -> None:
    (tmp_path / "r.toml").write_text(text)
    with pytest.raises(ConfigError, match=key):
        load_routes(tmp_path / "r.toml")


def test_a_batch_still_held_is_never_reused(billing: bytes) -> None:
    """The codec recycles a released batch's buffers; one the caller keeps must stay intact."""
    tc = Transcoder("dcache-billing", [RouteSpec("all")])
    lines = billing.splitlines(keepends=True)
    first = tc.feed(b"".join(lines[:3]))
    kept = first.payloads("all"), first.ids("all")
    for i in range(3, len(lines)):
        tc.feed(lines[i])  # released at once: free to be recycled
    assert (first.payloads("all"), first.ids("all")) == kept
    again = Transcoder("dcache-billing", [RouteSpec("all")]).feed(b"".join(lines[:3]))
    assert again.payloads("all") == kept[0]


@pytest.mark.parametrize(("max_events", "max_bytes"), [(1, 10**6), (3, 10**6), (1000, 900), (4, 1), (1000, 10**6)])
def test_blocks_cut_payloads_within_both_limits(billing: bytes, max_events: int, max_bytes: int) -> None:
    out = Transcoder("dcache-billing", [RouteSpec("all")]).feed(billing, final=True)
    payloads = out.payloads("all")
    runs = out.blocks("all", max_events, max_bytes)
    assert b"".join(block for _, block in runs) == b"".join(payloads)
    assert sum(count for count, _ in runs) == len(payloads)
    i = 0
    for count, block in runs:
        assert 1 <= count <= max_events
        assert count == 1 or len(block) <= max_bytes  # a single payload may exceed the byte limit alone
        assert block == b"".join(payloads[i:i + count])
        i += count
    with pytest.raises(ValueError):
        out.blocks("all", 0, 100)
