"""The CLI contracts of `fastev decode`, `fastev acl check` and `fastev route`, run as real processes."""
from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path

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
