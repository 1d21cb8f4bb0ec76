"""The CLI contracts of `fastev decode`, `fastev acl check` and `fastev route`, run as real processes."""
from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import fastavro
import pytest

from fastev import decode


def fastev(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "fastev", *args], input=stdin, capture_output=True,
                          timeout=120, check=False)


def test_decode_jsonl_matches_api(samples: Path) -> None:
    path = samples / "dcache-billing.jsonl"
    r = fastev("decode", "--source", "dcache-billing", str(path))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines == [e.to_dict() for e in decode(path.read_bytes(), "dcache-billing").events]
    assert b"10 decoded, 1 skipped, 0 rejected, 0 loss signals" in r.stderr


def test_decode_stdin_and_dash(samples: Path) -> None:
    data = (samples / "s3.jsonl").read_bytes()
    a = fastev("decode", "--source", "s3", stdin=data)
    b = fastev("decode", "--source", "s3", "-", stdin=data)
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout and len(a.stdout.splitlines()) == 3


def test_decode_inotify_with_watches(samples: Path) -> None:
    r = fastev("decode", "--source", "dcache-inotify", "--inotify-watches",
               str(samples / "dcache-inotify.watches.json"), str(samples / "dcache-inotify.sse"))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 9
    assert b"1 loss signals" in r.stderr


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_decode_avro_reads_back_with_fastavro(samples: Path, codec: str) -> None:
    path = samples / "gpfs-audit.jsonl"
    r = fastev("decode", "--source", "gpfs-audit", "--output", "avro", "--codec", codec, str(path))
    assert r.returncode == 0, r.stderr
    reader = fastavro.reader(io.BytesIO(r.stdout))
    assert reader.metadata["avro.codec"] == codec
    records = list(reader)
    expected = [e.to_dict() for e in decode(path.read_bytes(), "gpfs-audit").events]
    for rec in records:  # fastavro gives timestamp-micros as datetime
        rec["time_us"] = int(rec["time_us"].timestamp() * 1_000_000)
    assert records == expected


def test_decode_rejects_go_to_errors_file_and_exit_1(tmp_path: Path) -> None:
    good = b'{"msgType":"store","date":"2026-01-01T00:00:00Z","billingPath":"/a"}'
    data = good + b"\n{broken\n" + good.replace(b"/a", b"/b") + b"\n"
    errors = tmp_path / "errors.jsonl"
    r = fastev("decode", "--source", "dcache-billing", "--errors", str(errors), stdin=data)
    assert r.returncode == 1
    assert [json.loads(x)["path"] for x in r.stdout.splitlines()] == ["/a", "/b"]
    [err] = [json.loads(x) for x in errors.read_text().splitlines()]
    assert {k: err[k] for k in ("index", "line", "source", "field", "reason", "offset")} == {
        "index": 1, "line": 2, "source": "dcache-billing", "field": None, "reason": "invalid-json",
        "offset": len(good) + 1}
    assert err["raw"] == "{broken"


def test_decode_errors_to_stderr_by_default() -> None:
    r = fastev("decode", "--source", "s3", stdin=b"[1]\n")
    assert r.returncode == 1
    first = json.loads(r.stderr.splitlines()[0])
    assert first["reason"] == "not-an-object"


def test_decode_usage_errors_exit_2(tmp_path: Path) -> None:
    assert fastev("decode", "--source", "nope").returncode == 2
    assert fastev("decode").returncode == 2
    r = fastev("decode", "--source", "s3", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and b"cannot read" in r.stderr
    bad = tmp_path / "w.json"
    bad.write_text("[1]")
    assert fastev("decode", "--source", "dcache-inotify", "--inotify-watches", str(bad)).returncode == 2


ACL = """
[[allow]]
principals = ["group:/atlas", "uid:1000"]
paths = ["/pnfs/example.org/data/atlas"]
kinds = ["UPLOAD", "DELETE"]
[[deny]]
principals = ["user:bob"]
paths = ["/pnfs/example.org/data/atlas/private"]
"""


@pytest.mark.parametrize(("args", "decision"), [
    (["--group", "/atlas", "--path", "/pnfs/example.org/data/atlas/f", "--kind", "UPLOAD"], "allow"),
    (["--group", "/atlas", "--path", "/pnfs/example.org/data/atlasx/f", "--kind", "UPLOAD"], "deny"),
    (["--group", "/atlas", "--path", "/pnfs/example.org/data/atlas/f", "--kind", "DOWNLOAD"], "deny"),
    (["--user", "bob", "--group", "/atlas", "--path", "/pnfs/example.org/data/atlas/private/x",
      "--kind", "UPLOAD"], "allow" if False else "deny"),
    (["--uid", "1000", "--path", "//pnfs/example.org/data/atlas/", "--kind", "DELETE"], "allow"),
    (["--user", "alice", "--path", "/pnfs/example.org/data/atlas/f", "--kind", "UPLOAD"], "deny"),
    (["--group", "/atlas", "--path", "/pnfs/example.org/data/atlas/f"], "deny"),  # not every kind
])
def test_acl_check(tmp_path: Path, args: list[str], decision: str) -> None:
    acl = tmp_path / "acl.toml"
    acl.write_text(ACL)
    r = fastev("acl", "check", "--acl", str(acl), *args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines()[-1] == decision


def test_acl_check_errors_exit_2(tmp_path: Path) -> None:
    acl = tmp_path / "acl.toml"
    acl.write_text(ACL)
    r = fastev("acl", "check", "--acl", str(acl), "--path", "/pnfs/../etc", "--kind", "UPLOAD")
    assert r.returncode == 2 and b"canonical" in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[[allow]]\nprincipals = ["group:x"]\npaths = ["/a"]\ncolour = "red"\n')
    r = fastev("acl", "check", "--acl", str(bad), "--path", "/a", "--kind", "UPLOAD")
    assert r.returncode == 2 and b"colour" in r.stderr
    r = fastev("acl", "check", "--acl", str(tmp_path / "missing.toml"), "--path", "/a")
    assert r.returncode == 2


def test_route_prints_event_route_pairs(tmp_path: Path, samples: Path) -> None:
    (tmp_path / "acl.toml").write_text(
        '[[allow]]\nprincipals = ["group:photon"]\npaths = ["/pnfs/lab.example/photon"]\n')
    (tmp_path / "routes.toml").write_text(
        '[acl]\nfile = "acl.toml"\n'
        '[[route]]\nname = "photon"\nprincipals = ["group:photon"]\n'
        '[[route]]\nname = "tape"\nkinds = ["FLUSH", "STAGE"]\n'
        '[[route]]\nname = "beamtime"\npaths = ["/pnfs/lab.example/photon/beamtime7"]\nkinds = ["UPLOAD"]\n')
    path = samples / "dcache-billing.jsonl"
    r = fastev("route", "--config", str(tmp_path / "routes.toml"), "--source", "dcache-billing", str(path))
    assert r.returncode == 0, r.stderr
    pairs = [json.loads(x) for x in r.stdout.splitlines()]
    events = decode(path.read_bytes(), "dcache-billing").events
    by_id = {e.id: e for e in events}
    got = {(p["route"], p["id"]) for p in pairs}
    want = {("photon", e.id) for e in events if e.path.startswith("/pnfs/lab.example/photon/")}
    want |= {("tape", e.id) for e in events if e.kind in ("FLUSH", "STAGE")}
    want |= {("beamtime", e.id) for e in events
             if e.kind == "UPLOAD" and e.path.startswith("/pnfs/lab.example/photon/beamtime7/")}
    assert got == want and len(pairs) == len(got)
    assert all(by_id[p["id"]].path == p["path"] for p in pairs)


def test_demo_runs_end_to_end_through_a_broker() -> None:
    r = fastev("demo")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    for line in ("route photon -> photon-events: delivered 18 events",
                 "route operators -> all-events: delivered 36 events",
                 "route tape -> tape-activity: delivered 2 events",
                 "dead letters -> rejected: delivered 4"):
        assert line in out
    assert "non-canonical-path" in out and "invalid-json" in out  # read back from the dead-letter topic
    _check_demo_workflows(out)


def test_demo_manifest_command_numbers_concurrent_appends(tmp_path: Path) -> None:
    """The demo's command action, several at once as the runner starts them: one line each, numbered
    without gaps or repeats, a tab or newline in a path kept inside its field."""
    manifest = tmp_path / "manifest.tsv"
    paths = [f"/data/run {n}/f\t{n}.h5" if n % 2 else f"/data/f{n}\nx.h5" for n in range(8)]
    procs = [subprocess.Popen([sys.executable, "-m", "fastev.demo.manifest", "append", str(manifest), p, str(n)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
             for n, p in enumerate(paths)]
    outputs = []
    for n, proc in enumerate(procs):
        out, _ = proc.communicate(json.dumps({"id": f"{n:032x}", "kind": "UPLOAD"}).encode() + b"\n", timeout=60)
        assert proc.returncode == 0
        outputs.append(json.loads(out))
    lines = manifest.read_text().splitlines()
    assert sorted(o["line"] for o in outputs) == list(range(1, len(paths) + 1)) and len(lines) == len(paths)
    for n, (p, o) in enumerate(zip(paths, outputs, strict=True)):
        fields = lines[o["line"] - 1].split("\t")
        assert fields[:3] == [f"{n:032x}", "UPLOAD", str(n)]
        assert fields[3].replace("\\t", "\t").replace("\\n", "\n") == p


def _demo_events_on_workflow_topics() -> tuple[Any, list[dict[str, Any]]]:
    """The demo's workflow config and the events its pipeline routes to that config's topics, found by
    decoding and routing the demo samples here (not by reading the broker)."""
    from fastev.demo import SAMPLES, demo_dir
    from fastev.pipeline.config import load_routes_config
    from fastev.transcode import Transcoder
    from fastev.workflow.config import load_workflow_config

    demo = demo_dir()
    routes = load_routes_config(demo / "pipeline.toml")
    workflows = load_workflow_config(demo / "workflows.toml")
    watches = json.loads((demo / "dcache-inotify.watches.json").read_text())
    on_topics = [r.name for r in routes.routes if r.extra.get("topic") in workflows.topics]
    events: dict[str, dict[str, Any]] = {}
    for source, name in SAMPLES:
        data = (demo / name).read_bytes()
        opts: dict[str, Any] = {"inotify_watches": watches} if source == "dcache-inotify" else {}
        tc = Transcoder(source, routes, **opts)
        ids = {i for batch in (tc.feed(data), tc.finish()) for route in on_topics for i in batch.ids(route)}
        events.update({e.id: e.to_dict() for e in decode(data, source, **opts).events if e.id in ids})
    return workflows, list(events.values())


def _table_rows(out: str, title: str) -> list[list[str]]:
    """The cells of each row of the rich table titled ``title`` in ``out``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title)
    rows = []
    for line in lines[start + 4:]:  # title, top border, header, header rule
        if not line.startswith("│"):
            break
        rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def _check_demo_workflows(out: str) -> None:
    """The demo's workflow part: one outcome per (event, workflow) its config matches, chained ones after
    their upstream, and a manifest line per matched event, all consistent with each other."""
    from fastev.workflow.match import Matcher

    workflows, events = _demo_events_on_workflow_topics()
    roots = [w for w in workflows.workflows if w.match.after is None]
    chained = [w for w in workflows.workflows if w.match.after is not None]
    upstream = {w.name: [e for e in events if Matcher(w.match).matches(e)] for w in roots}
    want = [(w.name, e["path"]) for w in roots for e in upstream[w.name]]
    want += [(c.name, e["path"]) for c in chained for e in upstream[str(c.match.after)] if Matcher(c.match).matches(e)]
    assert roots and chained and want
    outcomes = _table_rows(out, "workflow outcomes, read back from 'workflow-results'")
    assert sorted((r[0], r[1]) for r in outcomes) == sorted(want)
    assert all(r[2] == "succeeded" and int(r[3]) >= 1 for r in outcomes)
    manifest_events = upstream[roots[0].name]
    manifest = _table_rows(out, "manifest.tsv, written by the manifest command (one line per new file)")
    assert sorted(r[1:] for r in manifest) == sorted(
        [e["id"], e["kind"], "" if e["size"] is None else str(e["size"]), e["path"]] for e in manifest_events)
    assert [r[0] for r in manifest] == [str(n) for n in range(1, len(manifest_events) + 1)]
    # Each step's output names the manifest line written for its path; the chained step got it as {output.line}.
    path_of = {int(r[0]): r[4] for r in manifest}
    for workflow, path, _status, _attempts, output in outcomes:
        value = json.loads(output)
        if workflow == roots[0].name:
            assert path_of[value["line"]] == path
        else:
            name, _, line = value["announced"].partition(" is manifest line ")
            assert name == path.rsplit("/", 1)[-1] and path_of[int(line)] == path
    counts = "; ".join(f"{w.name}: {sum(1 for n, _ in want if n == w.name)} succeeded, 0 dead"
                       for w in workflows.workflows)
    assert counts in out


def test_route_prints_a_summary_on_stderr(samples: Path) -> None:
    from fastev.demo import demo_dir

    path = samples / "dcache-billing.jsonl"
    r = fastev("route", "--config", str(demo_dir() / "pipeline.toml"), "--source", "dcache-billing", str(path))
    assert r.returncode == 0, r.stderr
    routed = {route: sum(1 for x in r.stdout.splitlines() if json.loads(x)["route"] == route)
              for route in ("photon", "cms", "mri", "tape", "operators")}
    assert r.stderr.decode().splitlines() == [
        "fastev route: 10 decoded, 1 skipped, 0 rejected, 0 loss signals (11 records, source dcache-billing); "
        "events per route: " + ", ".join(f"{k} {v}" for k, v in routed.items())]


def test_route_refuses_unknown_top_level_keys(tmp_path: Path) -> None:
    (tmp_path / "routes.toml").write_text('[[routes]]\nname = "all"\n')
    r = fastev("route", "--config", str(tmp_path / "routes.toml"), "--source", "s3", stdin=b"")
    assert r.returncode == 2 and r.stdout == b""
    assert b"unknown key 'routes'; did you mean 'route'?" in r.stderr


def _demo_copy(tmp_path: Path, replace: tuple[str, str], extra: str = "") -> Path:
    import shutil

    from fastev.demo import demo_dir

    for f in demo_dir().iterdir():
        if f.suffix in (".jsonl", ".sse", ".json", ".toml"):
            shutil.copy(f, tmp_path / f.name)
    config = tmp_path / "run.toml"
    config.write_text((demo_dir() / "pipeline.toml").read_text().replace(*replace) + extra)
    return config


@pytest.mark.parametrize("acl", ["no-such-acl.toml", "s3.jsonl"])
def test_run_checks_the_acl_before_connecting(tmp_path: Path, acl: str) -> None:
    """A missing or invalid [acl] file is a config error (exit 2), found before Kafka is contacted."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    config = _demo_copy(tmp_path, ('file = "acl.toml"', f'file = "{acl}"'),
                        f'[kafka]\nbootstrap_servers = "127.0.0.1:{closed}"\n')
    r = fastev("run", "--config", str(config))
    assert r.returncode == 2, r.stderr
    [line] = r.stderr.decode().splitlines()  # no librdkafka connection log: nothing connected
    assert line.startswith(f"fastev run: error: {config}: acl.file: ") and acl in line


def test_run_warns_about_a_topic_layout_kafka_bindings_refuses(tmp_path: Path) -> None:
    config = _demo_copy(tmp_path, ('topic = "cms-events"', 'topic = "photon-events"'))
    refused = fastev("acl", "kafka-bindings", "--acl", str(tmp_path / "acl.toml"), "--config", str(config))
    assert refused.returncode == 2
    reason = refused.stderr.decode().strip().removeprefix("fastev: error: ")
    r = fastev("run", "--config", str(config), "--no-progress")  # the embedded broker
    assert r.returncode == 0, r.stderr
    first = r.stderr.decode().splitlines()[0]
    assert first.startswith(f"fastev run: warning: {reason} (`fastev acl kafka-bindings` refuses this layout")
