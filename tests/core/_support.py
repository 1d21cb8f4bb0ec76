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
    t = cls(source, routes, **kw)
    out = [route_outputs(t.feed(ch)) for ch in chunks]
    out.append(route_outputs(t.finish()))
    return out


def make_routes() -> list[Any]:
    """Routes over native ACL objects: everything, a path prefix, kinds, an identity view."""
    from fastev._core.acl import IdentityView, PrefixFilter
    from fastev._ref.acl import Identity, Rule
    from fastev._ref.transcoder import CompiledRoute
    from fastev.event import KINDS

    all_kinds = (1 << len(KINDS)) - 1
    rules = [
        Rule("allow", ("group:/atlas",), ("/pnfs", "/gpfs/scratch"), all_kinds),
        Rule("deny", ("group:/atlas",), ("/pnfs/lab.example/cms",), all_kinds),
        Rule("allow", ("*",), ("/beamline-7",), 1 << KINDS.index("UPLOAD")),
    ]
    atlas = IdentityView(rules, Identity(user="a", groups=("/atlas",)))
    anyone = IdentityView(rules, Identity())
    return [
        CompiledRoute("all", None, ()),
        CompiledRoute("photon", PrefixFilter(["/pnfs/lab.example/photon", "/gpfs"], []), ()),
        CompiledRoute("kinds", PrefixFilter([], ["UPLOAD", "DELETE", "RENAME", "MOVED_OUT"]), ()),
        CompiledRoute("atlas", None, (atlas,)),
        CompiledRoute("both", PrefixFilter(["/"], ["UPLOAD", "CREATE"]), (atlas, anyone)),
    ]
