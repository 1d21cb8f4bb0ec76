"""Codec core throughput: decode + validate + route + Avro-encode dCache billing transfers.

Three implementations on the same ~1000 realistic transfer records (700-900 bytes):
- native   fastev._core.codec.Transcoder (the C hot path)
- ref      fastev._ref.transcoder.Transcoder (pure-Python reference)
- peer     json.loads -> dict mapping -> fastavro.schemaless_writer (what one writes by hand)
Run: PYTHONPATH=src python -m pytest benchmarks/bench_codec.py --benchmark-only -q
Records/s = 1000 / mean time per round (printed by test_report_records_per_second).
"""
from __future__ import annotations

import io
import json
import random
from typing import Any

import fastavro
import pytest

from fastev.event import schema

N_RECORDS = 1000


def make_records(n: int = N_RECORDS, seed: int = 1) -> list[bytes]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        vo = rnd.choice(["atlas", "cms", "photon", "dune"])
        write = rnd.random() < 0.4
        size = rnd.randrange(1, 1 << 36)
        cell = f"pool-x{rnd.randrange(100):02d}"
        rec = {
            "version": "1.0", "msgType": "transfer",
            "date": f"2026-02-11T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}."
                    f"{rnd.randrange(1000):03d}+01:00",
            "queuingTime": rnd.randrange(10), "cellName": cell, "cellType": "pool",
            "cellDomain": cell + "Domain", "status": {"code": 0, "msg": ""},
            "session": f"pool:{cell}@{cell}Domain:17707976{rnd.randrange(10**5):05d}-{i}",
            "subject": [f"UserNamePrincipal[{vo}user{rnd.randrange(50)}]",
                        f"UidPrincipal[{40000 + rnd.randrange(999)}]",
                        "GidPrincipal[40000,primary]", f"FQANPrincipal[/{vo}/Role=production,primary]",
                        f"Origin[198.51.100.{rnd.randrange(255)}]"],
            "pnfsid": f"{rnd.getrandbits(144):036X}",
            "billingPath": f"/pnfs/lab.example/{vo}/data/run{rnd.randrange(10**4):04d}/f{i}.root",
            "fileSize": size, "storageInfo": f"{vo}:raw@osm", "transferSize": size,
            "transferTime": rnd.randrange(1, 100000), "isWrite": "write" if write else "read",
            "isP2p": False,
            "transferPath": f"/pnfs/lab.example/{vo}/data/run{rnd.randrange(10**4):04d}/f{i}.root",
            "protocolInfo": {"protocol": "Xrootd", "versionMajor": 5, "versionMinor": 0,
                             "transferTag": str(rnd.randrange(1000)), "port": rnd.randrange(1024, 65535),
                             "host": f"2001:db8:5::{rnd.randrange(999)}"},
            ("meanWriteBandwidth" if write else "meanReadBandwidth"): float(f"{rnd.uniform(1e6, 1e10):.4g}"),
        }
        if rnd.random() < 0.5:
            rec["localEndpoint"] = f"198.51.100.40:{rnd.randrange(20000, 30000)}"
        out.append(json.dumps(rec, separators=(",", ":")).replace("E+", "E").encode())
    return out


RECORDS = make_records()
DATA = b"\n".join(RECORDS) + b"\n"


def routes() -> list[Any]:
    from fastev._core.acl import IdentityView, PrefixFilter
    from fastev._ref.acl import Identity, Rule
    from fastev.event import KINDS
    from fastev.routes import CompiledRoute

    rules = [Rule("allow", ("group:/atlas",), ("/pnfs/lab.example/atlas",), (1 << len(KINDS)) - 1)]
    return [
        CompiledRoute("all", None, ()),
        CompiledRoute("uploads", PrefixFilter(["/pnfs/lab.example"], ["UPLOAD"]), ()),
        CompiledRoute("atlas", None, (IdentityView(rules, Identity(groups=("/atlas",))),)),
    ]


ROUTES = routes()


def run_native() -> Any:
    from fastev._core.codec import Transcoder

    t = Transcoder("dcache-billing", ROUTES)
    rb = t.feed(DATA)
    assert rb.stats.decoded == N_RECORDS
    return rb


def run_ref() -> Any:
    from fastev._ref.transcoder import Transcoder

    t = Transcoder("dcache-billing", ROUTES)
    rb = t.feed(DATA)
    assert rb.stats.decoded == N_RECORDS
    return rb


PARSED = fastavro.parse_schema(schema())


def _peer_event(r: dict[str, Any]) -> dict[str, Any]:
    subject = r.get("subject") or []
    user = uid = gid = None
    groups: list[str] = []
    for s in subject:
        name, _, value = s.partition("[")
        value = value[:-1]
        if value.endswith(",primary"):
            value = value[:-8]
        if name == "UserNamePrincipal" and user is None:
            user = value
        elif name == "UidPrincipal" and uid is None:
            uid = int(value)
        elif name == "GidPrincipal" and gid is None:
            gid = int(value)
        elif name in ("FQANPrincipal", "GroupNamePrincipal", "OpenIdGroup") and value not in groups:
            groups.append(value)
    pi = r.get("protocolInfo") or {}
    st = r.get("status") or {}
    return {
        "id": "0" * 32, "source": "DCACHE_BILLING",
        "kind": "REPLICATE" if r.get("isP2p") else ("UPLOAD" if r.get("isWrite") == "write" else "DOWNLOAD"),
        "raw_type": r["msgType"], "time_us": 0, "path": r.get("transferPath") or "", "old_path": None,
        "is_dir": False, "size": r.get("fileSize"), "bytes": r.get("transferSize"),
        "duration_ms": r.get("transferTime"), "status": st.get("code", 0), "status_msg": st.get("msg") or None,
        "file_id": r.get("pnfsid"), "user": user, "uid": uid, "gid": gid, "groups": groups,
        "client": pi.get("host"), "protocol": f"{pi.get('protocol')}-{pi.get('versionMajor')}.{pi.get('versionMinor')}",
        "system": f"{r.get('cellName')}@{r.get('cellDomain')}", "storage_class": r.get("storageInfo"),
        "attrs": {k: str(r[k]) for k in ("session", "initiator", "queuingTime", "localEndpoint") if k in r},
    }


def run_peer() -> list[bytes]:
    out = []
    for line in DATA.splitlines():
        ev = _peer_event(json.loads(line))
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, PARSED, ev)
        out.append(buf.getvalue())
    return out


def test_record_sizes() -> None:
    sizes = [len(r) for r in RECORDS]
    assert 650 <= sum(sizes) / len(sizes) <= 950, sum(sizes) / len(sizes)


def test_native_matches_reference() -> None:
    a, b = run_native(), run_ref()
    for r in a.routes:
        assert a.payloads(r) == b.payloads(r)


@pytest.mark.benchmark(group="codec-dcache-billing-1000")
def test_native(benchmark: Any) -> None:
    benchmark(run_native)


@pytest.mark.benchmark(group="codec-dcache-billing-1000")
def test_reference(benchmark: Any) -> None:
    benchmark.pedantic(run_ref, rounds=5, iterations=1)


@pytest.mark.benchmark(group="codec-dcache-billing-1000")
def test_peer_json_fastavro(benchmark: Any) -> None:
    benchmark(run_peer)
