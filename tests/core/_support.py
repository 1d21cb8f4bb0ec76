"""Shared helpers of the native-core tests: import guard, runners, comparisons.

The native module must import: a missing extension FAILS these tests, unless
FASTEV_NO_EXTENSIONS=1 asks for the pure-Python build (then they are skipped).
"""
from __future__ import annotations

import json
import os
from typing import Any

import pytest

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")


def native_codec() -> Any:
    if NO_EXTENSIONS:
        pytest.skip("FASTEV_NO_EXTENSIONS=1: the native codec core is not under test",
                    allow_module_level=True)
    from fastev._core import codec  # an ImportError here fails the test module on purpose

    return codec


from ..conftest import SAMPLES  # noqa: E402  - tests/data/samples

NOW_US = 1_770_800_000_000_000


def watches() -> dict[str, str]:
    result: dict[str, str] = json.loads((SAMPLES / "dcache-inotify.watches.json").read_text())
    return result


def events_repr(events: list[dict[str, Any]]) -> str:
    # repr keeps key order (attrs order is part of the output) and tells True from 1
    return repr(events)


def error_keys(errors: list[Any]) -> list[tuple[Any, ...]]:
    return [e.key() + (e.raw,) for e in errors]


def run_decoder(mod: Any, source: str, chunks: list[bytes], **kw: Any) -> tuple[str, list[Any], list[Any]]:
    d = mod.Decoder(source, **kw)
    events: list[Any] = []
    errors: list[Any] = []
    stats = []
    for ch in chunks:
        b = d.feed(ch)
        events += b.events
        errors += b.errors
        stats.append(b.stats.as_dict())
    b = d.finish()
    events += b.events
    errors += b.errors
    stats.append(b.stats.as_dict())
    return events_repr(events), error_keys(errors), stats


def run_records(mod: Any, source: str, records: list[bytes], **kw: Any) -> tuple[str, list[Any], Any]:
    d = mod.Decoder(source, **kw)
    b = d.feed_records(records, offsets=list(range(100, 100 + len(records))))
    t = d.finish()
    return (events_repr(b.events + t.events), error_keys(b.errors + t.errors),
            (b.stats.as_dict(), t.stats.as_dict()))


def route_outputs(rb: Any) -> Any:
    return ([(r, rb.count(r), rb.payloads(r), rb.block(r), rb.ids(r), rb.paths(r)) for r in rb.routes],
            error_keys(rb.errors), rb.stats.as_dict())


def run_transcoder(cls: Any, source: str, routes: Any, chunks: list[bytes], **kw: Any) -> list[Any]:
    # A reference transcoder routing with native ACL objects would compare the native routing with
    # itself: each side gets its own twins (make_routes("native") / make_routes("reference")).
    side = "fastev._core" if cls.__module__.startswith("fastev._core") else "fastev._ref"
    for r in routes:
        for acl_object in (r.filter, *r.views):
            if acl_object is not None and not type(acl_object).__module__.startswith(side):
                pytest.fail(f"{cls.__module__}.Transcoder got route {r.name!r} with a "
                            f"{type(acl_object).__module__} object: use make_routes("
                            f"{'native' if side == 'fastev._core' else 'reference'!r})")
    t = cls(source, routes, **kw)
    out = [route_outputs(t.feed(ch)) for ch in chunks]
    out.append(route_outputs(t.finish()))
    return out


def make_routes(implementation: str = "native") -> list[Any]:
    """Routes over one implementation's ACL objects (``native``: fastev._core.acl, ``reference``:
    fastev._ref.acl), so a differential test hands each transcoder its own twin and compares
    routing too: everything, a path prefix, kinds, identity views, and the source dimension
    (docs/formats.md §6) in a rule and in a route."""
    from fastev.acl_rules import ALL_SOURCES, Identity, Rule
    from fastev.event import DECODER_NAMES, KINDS
    from fastev.routes import CompiledRoute

    if implementation == "native":
        from fastev._core import acl
    else:
        from fastev._ref import acl  # type: ignore[no-redef]
    all_kinds = (1 << len(KINDS)) - 1
    s3 = 1 << DECODER_NAMES.index("s3")
    rules = [
        Rule("allow", ("group:/atlas",), ("/pnfs", "/gpfs/scratch"), all_kinds),
        Rule("deny", ("group:/atlas",), ("/pnfs/lab.example/cms",), all_kinds),
        Rule("allow", ("*",), ("/beamline-7",), 1 << KINDS.index("UPLOAD")),
        # file-system readers: /pnfs from every source but S3 (an S3 bucket "pnfs" must not reach them)
        Rule("allow", ("group:/photon",), ("/pnfs",), all_kinds, ALL_SOURCES & ~s3),
        Rule("allow", ("group:/photon",), ("/",), 1 << KINDS.index("UPLOAD"), s3),
    ]
    atlas = acl.IdentityView(rules, Identity(user="a", groups=("/atlas",)))
    anyone = acl.IdentityView(rules, Identity())
    photon = acl.IdentityView(rules, Identity(groups=("/photon",)))
    return [
        CompiledRoute("all", None, ()),
        CompiledRoute("photon", acl.PrefixFilter(["/pnfs/lab.example/photon", "/gpfs"], []), ()),
        CompiledRoute("kinds", acl.PrefixFilter([], ["UPLOAD", "DELETE", "RENAME", "MOVED_OUT"]), ()),
        CompiledRoute("atlas", None, (atlas,)),
        CompiledRoute("both", acl.PrefixFilter(["/"], ["UPLOAD", "CREATE"]), (atlas, anyone)),
        CompiledRoute("photon-readers", None, (photon,)),
        CompiledRoute("gpfs-only", acl.PrefixFilter([], [], ["gpfs-audit", "gpfs-watch"]), ()),
    ]
