"""File sources -> Kafka topics on the real broker: exactly the routed events, equal to `fastev decode`."""
from __future__ import annotations

import io
import json
import shutil
import struct
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro

from fastev import Transcoder, decode
from fastev.demo import demo_dir
from fastev.pipeline import load_config
from fastev.pipeline.checkpoint import FileCheckpoints

from ..kafka.conftest import FILES, PARSED, SOURCES
from .conftest import finish, header, read_avro, write_config

BAD = [b'{"version":"1.0","msgType":"transfer","date":"2026-02-11T09:14:05Z","cellName":"p",'
       b'"cellType":"pool","cellDomain":"d","status":{"code":0,"msg":""},'
       b'"billingPath":"/pnfs/lab.example/x","fileSize":-5,"isWrite":"write"}',
       b"this is not json",
       b'{"msgType": "transfer"}']


def as_dict(event: Any) -> dict[str, Any]:
    return comparable({k: (str(v) if k in ("source", "kind") else v) for k, v in event.to_dict().items()})


def comparable(ev: dict[str, Any]) -> dict[str, Any]:
    """dCache inotify events carry no time: time_us is the decode time, different in each decode."""
    return {k: v for k, v in ev.items() if not (k == "time_us" and ev["source"] == "DCACHE_INOTIFY")}


def test_every_event_reaches_exactly_its_routes(broker: Any, new_topic: Any, consume: Any, fastev_run: Any,
                                                samples: Path, tmp_path: Path) -> None:
    for name in FILES.values():
        shutil.copy(samples / name, tmp_path / name)
    shutil.copy(samples / "dcache-inotify.watches.json", tmp_path / "watches.json")
    shutil.copy(demo_dir() / "acl.toml", tmp_path / "acl.toml")
    # A billing input with rejected records between valid ones.
    billing = (samples / FILES["dcache-billing"]).read_bytes().splitlines()
    mixed = billing[:2] + [BAD[0]] + billing[2:5] + BAD[1:] + billing[5:]
    (tmp_path / "mixed.jsonl").write_bytes(b"\n".join(mixed) + b"\n")

    topics = {r: new_topic(partitions=2) for r in ("everything", "photon", "cms", "mri", "tape", "ops")}
    dead = new_topic()
    routes = [
        {"name": "everything", "topic": topics["everything"]},
        {"name": "photon", "topic": topics["photon"], "principals": ["group:photon"], "key": "id"},
        {"name": "cms", "topic": topics["cms"], "principals": ["group:/cms"], "format": "ocf", "ocf_events": 2},
        {"name": "mri", "topic": topics["mri"], "principals": ["group:mri"], "key": "none"},
        {"name": "tape", "topic": topics["tape"], "kinds": ["FLUSH", "STAGE"], "format": "confluent",
         "schema_id": 7},
        {"name": "ops", "topic": topics["ops"], "principals": ["group:operators"], "kinds": ["DELETE", "UPLOAD"]},
    ]
    sources = [{"name": s, "type": "file", "format": s, "paths": [FILES[s]]} for s in SOURCES]
    sources[SOURCES.index("dcache-inotify")]["inotify_watches"] = "watches.json"
    sources.append({"name": "mixed", "type": "file", "format": "auto", "paths": ["mixed*.jsonl"]})
    config = write_config(tmp_path / "run.toml", bootstrap=broker.bootstrap, sources=sources, routes=routes,
                          dead_letter=dead, acl="acl.toml")

    code, out, err = finish(fastev_run(config, "--summary-json", str(tmp_path / "summary.json")))
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())

    # The oracle: `fastev decode` of each input, routed by a Transcoder on the same routes.
    cfg = load_config(config)
    expected: dict[str, Counter[str]] = {r["name"]: Counter() for r in routes}
    events: dict[str, dict[str, Any]] = {}
    inputs = {s["name"]: (tmp_path / s["paths"][0].replace("*", ""), s["format"], s.get("inotify_watches"))
              for s in sources}
    rejected = []
    for name, (path, fmt, watches) in inputs.items():
        opts = {"inotify_watches": json.loads((tmp_path / watches).read_text())} if watches else {}
        data = path.read_bytes()
        res = decode(data, fmt, **opts)
        rejected += [(e.reason, e.field, e.offset, bytes(e.raw)) for e in res.errors]
        events.update({e.id: as_dict(e) for e in res.events})
        tc = Transcoder(fmt, cfg.routes, **opts)
        for batch in (tc.feed(data), tc.finish()):
            for r in expected:
                expected[r].update(batch.ids(r))
        s = summary["sources"][name]
        assert (s["decoded"], s["rejected"], s["read_bytes"]) == (len(res.events), len(res.errors), len(data))
        # The whole file is checkpointed once everything is acknowledged.
        assert FileCheckpoints(cfg.state_dir).offset(path.resolve()) == len(data)
    assert all(expected.values()) and len(rejected) == 3
    assert summary["routes"] == {r: sum(c.values()) for r, c in expected.items()}

    for route in ("everything", "photon", "mri", "ops"):
        msgs = consume(topics[route], expected=sum(expected[route].values()))
        got = Counter(header(m, "ce_id") for m in msgs)
        assert got == expected[route], route
        for m in msgs:
            ev = comparable(read_avro(m.value()))
            assert ev == events[ev["id"]]
            assert header(m, "ce_specversion") == "1.0" and header(m, "content-type") == "application/avro"
            assert header(m, "ce_subject") == (ev["path"] or None)
            key = {"everything": ev["path"], "photon": ev["id"], "ops": ev["path"], "mri": None}[route]
            assert (m.key().decode() if m.key() is not None else None) == key

    # ocf: files of at most 2 events; confluent: magic byte, schema id 7, then the Avro event.
    cms = [ev for m in consume(topics["cms"], expected=2) for ev in fastavro.reader(io.BytesIO(m.value()),
                                                                                     reader_schema=PARSED)]
    assert Counter(ev["id"] for ev in cms) == expected["cms"]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for ev in cms:  # the container's writer schema has the timestamp-micros logical type
        ev["time_us"] = (ev["time_us"] - epoch) // timedelta(microseconds=1)
        assert comparable(ev) == events[ev["id"]]
    tape = consume(topics["tape"], expected=sum(expected["tape"].values()))
    assert Counter(header(m, "ce_id") for m in tape) == expected["tape"]
    for m in tape:
        magic, schema_id = struct.unpack(">bI", m.value()[:5])
        assert (magic, schema_id) == (0, 7)
        ev = comparable(read_avro(m.value()[5:]))
        assert ev == events[ev["id"]]

    # Rejected records: original bytes on the dead-letter topic, with reason, field and offset.
    dlq = consume(dead, expected=3)
    got_rejects = sorted((header(m, "fastev_reason"), header(m, "fastev_field") or None,
                          int(header(m, "fastev_offset") or -1), m.value()) for m in dlq)
    assert got_rejects == sorted(rejected)
    assert {header(m, "fastev_input") for m in dlq} == {str((tmp_path / "mixed.jsonl").resolve())}
    assert summary["dead_letters"] == 3
    assert "rejected 3" in out


def test_a_second_run_resumes_at_the_checkpoint(broker: Any, new_topic: Any, consume: Any, fastev_run: Any,
                                                samples: Path, tmp_path: Path) -> None:
    lines = (samples / FILES["dcache-billing"]).read_bytes().splitlines(keepends=True)
    path = tmp_path / "billing.jsonl"
    path.write_bytes(b"".join(lines[:6]))
    topic = new_topic()
    config = write_config(tmp_path / "run.toml", bootstrap=broker.bootstrap, routes=[{"name": "all", "topic": topic}],
                          sources=[{"type": "file", "format": "dcache-billing", "paths": ["billing.jsonl"]}])
    assert finish(fastev_run(config))[0] == 0
    with path.open("ab") as f:  # the log grows: only the new records are sent
        f.write(b"".join(lines[6:]))
    code, out, err = finish(fastev_run(config))
    assert code == 0, err
    assert "resuming at byte" in err
    ids = [header(m, "ce_id") for m in consume(topic, expected=10)]
    reference = [e.id for e in decode(path.read_bytes(), "dcache-billing").events]
    assert sorted(ids) == sorted(reference)  # each exactly once


def test_a_missing_route_topic_is_a_clear_error_and_nothing_is_committed(
        broker: Any, new_topic: Any, fastev_run: Any, samples: Path, tmp_path: Path) -> None:
    shutil.copy(samples / FILES["dcache-billing"], tmp_path / "billing.jsonl")
    good, missing = new_topic(), new_topic(create=False)
    config = write_config(tmp_path / "run.toml", bootstrap=broker.bootstrap,
                          sources=[{"type": "file", "format": "dcache-billing", "paths": ["billing.jsonl"]}],
                          routes=[{"name": "ok", "topic": good}, {"name": "typo", "topic": missing}])
    code, out, err = finish(fastev_run(config))
    assert code == 1
    assert f"topic {missing!r} does not exist" in err
    assert not (tmp_path / "run.state").exists()
