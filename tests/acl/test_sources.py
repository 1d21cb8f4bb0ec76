"""One source must not speak for another's paths (docs/formats.md §6; issue 9, D5).

An S3 event in bucket ``pnfs`` with key ``lab.example/photon/x`` has the path
``/pnfs/lab.example/photon/x``, the same as a dCache file. Rules and routes may
name ``sources``, and a source may carry a ``path_prefix``; both implementations.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fastev import acl_rules
from fastev.errors import AclError, ConfigError
from fastev.routes import CompiledRoute, RouteSpec, parse_routes
from fastev.source_trust import check_path_prefix, prefixed_path, spoofing_warnings

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")
IMPLEMENTATIONS = ["reference"] + ([] if NO_EXTENSIONS else ["native"])
each_implementation = pytest.mark.parametrize("impl_name", IMPLEMENTATIONS)

PHOTON = acl_rules.Identity(groups=("/photon",))
RULES_TEXT = """
[[allow]]
principals = ["group:/photon"]
paths = ["/pnfs/lab.example/photon"]
sources = ["dcache-billing", "dcache-inotify"]

[[allow]]
principals = ["group:/photon"]
paths = ["/beamline-7"]
sources = ["s3"]
"""


def acl_module(name: str) -> ModuleType:
    return importlib.import_module("fastev._core.acl" if name == "native" else "fastev._ref.acl")


def codec_module(name: str) -> ModuleType:
    return importlib.import_module("fastev._core.codec" if name == "native" else "fastev._ref.transcoder")


def decoder_module(name: str) -> ModuleType:
    return importlib.import_module("fastev._core.codec" if name == "native" else "fastev._ref.decoder")


def s3_message(bucket: str, key: str, name: str = "ObjectCreated:Put") -> bytes:
    record = {"eventName": name, "eventTime": "2026-02-11T09:30:00.120Z", "eventSource": "aws:s3",
              "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 5}}}
    return json.dumps({"Records": [record]}).encode()


def billing(path: str) -> bytes:
    return json.dumps({"msgType": "transfer", "date": "2026-02-11T09:30:00.120Z", "isWrite": "write",
                       "transferPath": path, "cellName": "pool1", "cellDomain": "d"}).encode()


SPOOF = s3_message("pnfs", "lab.example/photon/x")


# -- rule files -----------------------------------------------------------------------------

def test_rule_files_name_sources() -> None:
    dcache, s3 = acl_rules.parse_rules_toml(RULES_TEXT)
    assert dcache.sources == 0b11 and s3.sources == 0b10000
    assert acl_rules.parse_rules_toml('[[allow]]\nprincipals=["*"]\npaths=["/"]')[0].sources == acl_rules.ALL_SOURCES


@pytest.mark.parametrize("value,message", [
    ('["nfs"]', "unknown source 'nfs'"),
    ("[]", "must not be empty"),
    ('"s3"', "must be a list of strings"),
    ('["S3"]', "unknown source 'S3'"),  # rule files use the decoder names, as [[source]] format does
])
def test_bad_sources_in_rule_files(value: str, message: str) -> None:
    with pytest.raises(AclError, match=r"allow\[0\]\.sources: " + message):
        acl_rules.parse_rules_toml(f'[[allow]]\nprincipals=["*"]\npaths=["/"]\nsources={value}', "r.toml")


@each_implementation
def test_rules_built_in_code_are_checked(impl_name: str) -> None:
    for bad in (0, 1 << 5, -1, "s3"):
        with pytest.raises(AclError, match="sources"):
            acl_module(impl_name).PathTrie([acl_rules.Rule("allow", ("*",), ("/",), sources=bad)])  # type: ignore[arg-type]


# -- lookups --------------------------------------------------------------------------------

@each_implementation
def test_a_rule_limited_to_sources_covers_only_them(impl_name: str) -> None:
    impl = acl_module(impl_name)
    rules = acl_rules.parse_rules_toml(RULES_TEXT)
    trie, view = impl.PathTrie(rules), impl.PathTrie(rules).view(PHOTON)
    path = "/pnfs/lab.example/photon/x"
    for source, expected in [("DCACHE_BILLING", True), ("dcache-inotify", True), (0, True),
                             ("S3", False), ("s3", False), (4, False), ("GPFS_AUDIT", False), (None, False)]:
        assert trie.allows(PHOTON, path, "UPLOAD", source) is expected, source
        assert view.allows(path, "UPLOAD", source) is expected, source
    assert view.allows("/beamline-7/a", "UPLOAD", "S3") and not view.allows("/beamline-7/a", "UPLOAD", "DCACHE_BILLING")


@each_implementation
def test_every_deny_rule_applies_to_events_without_a_source(impl_name: str) -> None:
    # Security defaults to deny: an event without a source may come from the source a deny names.
    impl = acl_module(impl_name)
    bob = acl_rules.Identity(user="bob")
    rules = [acl_rules.Rule("allow", ("user:bob",), ("/pnfs",)),
             acl_rules.Rule("deny", ("user:bob",), ("/pnfs/secret",), sources=acl_rules.source_mask(["s3"]))]
    trie, view = impl.PathTrie(rules), impl.PathTrie(rules).view(bob)
    for path, source, expected in [("/pnfs/secret/x", None, False), ("/pnfs/secret/x", "S3", False),
                                   ("/pnfs/secret/x", "dcache-billing", True), ("/pnfs/open/x", None, True)]:
        assert acl_module("reference").allows_bruteforce(rules, bob, path, "UPLOAD", source) is expected
        assert trie.allows(bob, path, "UPLOAD", source) is expected, (path, source)
        assert view.allows(path, "UPLOAD", source) is expected, (path, source)
    for unknown in (acl_rules.UNKNOWN_SOURCE_SLOT, -1, 99):  # the C entry point's unknown slots
        assert not view.match_canonical(b"/pnfs/secret/x", 0, unknown) and view.match_canonical(b"/pnfs/x", 0, unknown)


@each_implementation
@pytest.mark.parametrize("bad", ["nfs", "", 5, -1, True, 1.0, b"S3"])
def test_unknown_sources_are_value_errors(impl_name: str, bad: Any) -> None:
    impl = acl_module(impl_name)
    view = impl.PathTrie(acl_rules.parse_rules_toml(RULES_TEXT)).view(PHOTON)
    with pytest.raises(ValueError, match="unknown event source"):
        view.allows("/pnfs", "UPLOAD", bad)
    with pytest.raises(ValueError, match="unknown event source"):
        impl.PrefixFilter().matches("/pnfs", "UPLOAD", bad)


@each_implementation
def test_c_entry_point_treats_out_of_range_sources_as_unknown(impl_name: str) -> None:
    impl = acl_module(impl_name)
    unrestricted = acl_rules.Rule("allow", ("*",), ("/a",))
    limited = acl_rules.Rule("allow", ("*",), ("/b",), sources=1)
    view = impl.PathTrie([unrestricted, limited]).view(acl_rules.Identity())
    for slot in (-1, 6, 1 << 20):
        assert view.match_canonical(b"/a", 0, slot) and not view.match_canonical(b"/b", 0, slot)
    assert view.match_canonical(b"/b", 0, 0)
    only_s3 = impl.PrefixFilter([], [], ["s3"])
    assert only_s3.match_canonical(b"/x", 0, 4) and not only_s3.match_canonical(b"/x", 0, 0)
    assert not only_s3.match_canonical(b"/x", 0, 99) and impl.PrefixFilter().match_canonical(b"/x", 0, 99)


@each_implementation
def test_prefix_filters_name_sources(impl_name: str) -> None:
    f = acl_module(impl_name).PrefixFilter(["/pnfs"], [], ["dcache-billing"])
    assert f.matches("/pnfs/a", "UPLOAD", "DCACHE_BILLING")
    assert not f.matches("/pnfs/a", "UPLOAD", "S3") and not f.matches("/pnfs/a", "UPLOAD")
    with pytest.raises(AclError, match="sources"):
        acl_module(impl_name).PrefixFilter([], [], "s3")


# -- path_prefix ----------------------------------------------------------------------------

def test_path_prefix_values() -> None:
    assert check_path_prefix("") == check_path_prefix("/") == check_path_prefix(None) == ""
    assert check_path_prefix("/s3/minio-a") == "/s3/minio-a"
    for bad in ("s3", "/s3/", "/s3//a", "/s3/../pnfs", 7):
        with pytest.raises(ConfigError, match="path_prefix"):
            check_path_prefix(bad)
    assert prefixed_path("/s3", "/") == "/s3" and prefixed_path("/s3", "") == ""
    assert prefixed_path("", "/a") == "/a" and prefixed_path("/s3", "/a/b") == "/s3/a/b"


@each_implementation
def test_decoders_prepend_the_path_prefix(impl_name: str, samples: Path) -> None:
    dec = decoder_module(impl_name).Decoder("s3", path_prefix="/s3/minio-a", now_us=0)
    ev = dec.feed_records([SPOOF]).events[0]
    assert ev["path"] == "/s3/minio-a/pnfs/lab.example/photon/x"
    # Moves: the RENAME's old path is prefixed once, MOVED_OUT at the end too.
    dec = decoder_module(impl_name).Decoder("gpfs-watch", path_prefix="/site", now_us=0)
    batch = dec.feed((samples / "gpfs-watch.jsonl").read_bytes(), final=True)
    paths = [(e["kind"], e["path"], e["old_path"]) for e in batch.events]
    assert all(p.startswith("/site/gpfs/") and (o is None or o.startswith("/site/gpfs/")) for _, p, o in paths)
    renames = [(p, o) for k, p, o in paths if k == "RENAME"]
    assert renames and not any(o.startswith("/site/site") for _, o in renames)
    with pytest.raises(ConfigError, match="path_prefix"):
        decoder_module(impl_name).Decoder("s3", path_prefix="relative")


def test_both_decoders_agree_with_a_path_prefix(samples: Path) -> None:
    if NO_EXTENSIONS:
        pytest.skip("one implementation only")
    for name, source in [("gpfs-watch.jsonl", "gpfs-watch"), ("s3.jsonl", "s3"),
                         ("dcache-billing.jsonl", "dcache-billing")]:
        data = (samples / name).read_bytes()
        out = [decoder_module(i).Decoder(source, path_prefix="/p", now_us=0).feed(data, final=True).events
               for i in ("native", "reference")]
        assert repr(out[0]) == repr(out[1]), name


# -- the spoofing scenario end to end -------------------------------------------------------

@each_implementation
def test_spoofed_s3_event_does_not_reach_file_system_readers(impl_name: str) -> None:
    """Through the transcoder: before, an S3 bucket 'pnfs' reached /pnfs readers; now the rule names its sources."""
    impl = acl_module(impl_name)
    rules = acl_rules.parse_rules_toml(RULES_TEXT)
    routes = [CompiledRoute("photon", None, (impl.IdentityView(rules, PHOTON),))]
    tc = codec_module(impl_name).Transcoder
    assert tc("s3", routes).feed_records([SPOOF]).count("photon") == 0
    genuine = tc("dcache-billing", routes).feed_records([billing("/pnfs/lab.example/photon/x")])
    assert genuine.paths("photon") == ["/pnfs/lab.example/photon/x"]
    # The same rule without sources: the spoof gets through (the defect, kept as the contrast).
    open_rules = [acl_rules.Rule("allow", ("group:/photon",), ("/pnfs/lab.example/photon",))]
    routes = [CompiledRoute("photon", None, (impl.IdentityView(open_rules, PHOTON),))]
    assert tc("s3", routes).feed_records([SPOOF]).count("photon") == 1
    # ... unless the S3 source has a prefix: its paths then live under /s3.
    assert tc("s3", routes, path_prefix="/s3").feed_records([SPOOF]).count("photon") == 0


def test_spoofing_through_fastev_route(tmp_path: Path) -> None:
    (tmp_path / "acl.toml").write_text(RULES_TEXT)
    (tmp_path / "routes.toml").write_text('[acl]\nfile = "acl.toml"\n[[route]]\nname = "photon"\n'
                                          'principals = ["group:/photon"]\n[[route]]\nname = "fs"\n'
                                          'sources = ["dcache-billing"]\n')
    (tmp_path / "s3.jsonl").write_bytes(SPOOF + b"\n" + s3_message("beamline-7", "run/a") + b"\n")
    (tmp_path / "billing.jsonl").write_bytes(billing("/pnfs/lab.example/photon/x") + b"\n")

    def route(source: str, name: str) -> list[tuple[str, str]]:
        r = subprocess.run([sys.executable, "-m", "fastev", "route", "--config", str(tmp_path / "routes.toml"),
                            "--source", source, str(tmp_path / name)], capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return [(d["route"], d["path"]) for d in map(json.loads, r.stdout.splitlines())]

    assert route("s3", "s3.jsonl") == [("photon", "/beamline-7/run/a")]
    assert route("dcache-billing", "billing.jsonl") == [("photon", "/pnfs/lab.example/photon/x"),
                                                       ("fs", "/pnfs/lab.example/photon/x")]


def test_route_specs_name_sources(tmp_path: Path) -> None:
    spec = parse_routes({"route": [{"name": "a", "sources": ["s3"]}]}, tmp_path).routes[0]
    assert spec == RouteSpec("a", sources=("s3",)) and spec.filters
    with pytest.raises(ConfigError, match=r"route\[0\]\.sources: unknown source 'S3'"):
        parse_routes({"route": [{"name": "a", "sources": ["S3"]}]}, tmp_path)


# -- the start-up warning -------------------------------------------------------------------

def test_mixing_s3_with_file_systems_warns_unless_separated() -> None:
    open_rule = acl_rules.Rule("allow", ("group:/photon",), ("/pnfs/lab.example/photon",))
    everything = acl_rules.Rule("allow", ("group:operators",), ("/",))  # sees every event anyway: not exposed
    mixed = [("dcache-billing", ""), ("s3", "")]
    [line] = spoofing_warnings(mixed, [everything, open_rule])
    assert "allow[1] (group:/photon: /pnfs/lab.example/photon)" in line and "sources" in line
    assert "path_prefix" in line and "allow[0]" not in line
    assert spoofing_warnings(mixed, acl_rules.parse_rules_toml(RULES_TEXT)) == []  # the rules name sources
    assert spoofing_warnings([("dcache-billing", ""), ("s3", "/s3")], [open_rule]) == []  # the prefix separates
    assert spoofing_warnings([("dcache-billing", ""), ("gpfs-audit", "")], [open_rule]) == []  # no S3
    assert spoofing_warnings([("s3", "")], [open_rule]) == []
    assert len(spoofing_warnings([("auto", "")], [open_rule])) == 1  # auto may deliver either
    routes = [RouteSpec("all"), RouteSpec("fs", paths=("/pnfs",), sources=("dcache-billing",)),
              RouteSpec("p", paths=("/s3/x",)), RouteSpec("q", paths=("/pnfs",), principals=("group:/photon",))]
    [line] = spoofing_warnings([("dcache-billing", ""), ("s3", "/s3")], [], routes)
    assert "1 ACL rule(s) or route(s)" in line and "route 'p' (/s3/x)" in line


def test_the_demo_separates_its_sources() -> None:
    from fastev.demo import demo_dir
    from fastev.pipeline import load_config
    from fastev.source_trust import config_spoofing_warnings

    assert config_spoofing_warnings(load_config(demo_dir() / "pipeline.toml")) == []


def test_fastev_acl_check_asks_about_a_source(tmp_path: Path) -> None:
    (tmp_path / "acl.toml").write_text(RULES_TEXT)

    def check(*extra: str) -> str:
        r = subprocess.run([sys.executable, "-m", "fastev", "acl", "check", "--acl", str(tmp_path / "acl.toml"),
                            "--group", "/photon", "--path", "/pnfs/lab.example/photon/x", "--kind", "UPLOAD",
                            *extra], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()[-1]

    assert check("--source", "dcache-billing") == "allow"
    assert check("--source", "s3") == "deny"
    assert check() == "deny"  # no source: only the allow rules without sources count


def _run_until_serving(config: Path) -> str:
    """``fastev run`` on an SSE-only file pipeline: its start-up lines, then SIGTERM."""
    proc = subprocess.Popen([sys.executable, "-m", "fastev", "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "SSE on http" in line or "error" in line:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return "".join(lines)


@pytest.mark.parametrize("s3_prefix,warned", [("", True), ('path_prefix = "/s3/minio-a"', False)])
def test_fastev_run_warns_when_s3_can_speak_for_file_system_paths(tmp_path: Path, samples: Path,
                                                                  s3_prefix: str, warned: bool) -> None:
    import hashlib

    for name in ("s3.jsonl", "dcache-billing.jsonl"):
        (tmp_path / name).write_bytes((samples / name).read_bytes())
    (tmp_path / "acl.toml").write_text('[[allow]]\nprincipals = ["group:/photon"]\n'
                                       'paths = ["/pnfs/lab.example/photon"]\n')
    (tmp_path / "tokens.txt").write_text(hashlib.sha256(b"tok").hexdigest() + " user:alice group:/photon\n")
    (tmp_path / "p.toml").write_text(f"""
[[source]]
type = "file"
format = "s3"
paths = ["s3.jsonl"]
{s3_prefix}
[[source]]
type = "file"
format = "dcache-billing"
paths = ["dcache-billing.jsonl"]
[acl]
file = "acl.toml"
[sse]
listen = "127.0.0.1:0"
[sse.auth]
mode = "acl"
tokens_file = "tokens.txt"
""")
    err = _run_until_serving(tmp_path / "p.toml")
    assert "SSE on http" in err, err
    assert ("warning: S3 and file-system sources share one path namespace" in err) is warned, err
    assert err.count("warning") == int(warned)


def test_config_path_prefix_reaches_the_decoder_options(tmp_path: Path) -> None:
    from fastev.pipeline import load_config

    base = '[[source]]\ntype = "file"\nformat = "s3"\npaths = ["x"]\n{}\n[[route]]\nname = "a"\ntopic = "t"\n'
    (tmp_path / "ok.toml").write_text(base.format('path_prefix = "/s3/a"'))
    assert load_config(tmp_path / "ok.toml").sources[0].decoder_options["path_prefix"] == "/s3/a"
    (tmp_path / "bad.toml").write_text(base.format('path_prefix = "s3/../a"'))
    with pytest.raises(ConfigError, match=r"source\[0\]\.path_prefix: 's3/\.\./a' is not a canonical"):
        load_config(tmp_path / "bad.toml")
