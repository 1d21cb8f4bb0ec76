"""The differential targets: one case run through the native core and the pure-Python reference.

A case is plain data (target, source, options, inputs), so it can be saved as a
reproducer and replayed. Each side gets its own implementation of everything:
the native side the native codec and native ACL tries, the reference side the
reference decoder, transcoder and ACL classes, so routing is compared as well.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NOW_US = 1_770_800_000_000_000
TARGETS = ("decode-records", "decode-stream", "transcode-records", "transcode-stream")


@dataclass
class Case:
    target: str                 # one of TARGETS
    source: str                 # a decoder name or "auto"
    options: dict[str, Any]     # decoder options (watches included), plus framing for the transcoder
    inputs: list[bytes]         # records (…-records) or the chunks of one stream (…-stream)
    labels: list[str] = field(default_factory=list)  # the mutations that made each input, for the report

    def as_json(self) -> dict[str, Any]:
        return {"target": self.target, "source": self.source, "options": self.options,
                "inputs": [x.hex() for x in self.inputs], "labels": self.labels}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Case:
        return cls(obj["target"], obj["source"], obj["options"], [bytes.fromhex(x) for x in obj["inputs"]],
                   obj.get("labels", []))


class Side:
    """One implementation: its Decoder, Transcoder and ACL classes."""

    def __init__(self, native: bool) -> None:
        if native:
            from fastev._core import acl, codec

            self.decoder, self.transcoder, self.acl = codec.Decoder, codec.Transcoder, acl
        else:
            from fastev._ref import acl, decoder, transcoder

            self.decoder, self.transcoder, self.acl = decoder.Decoder, transcoder.Transcoder, acl
        self.routes = _routes(self.acl)


def _routes(acl: Any) -> list[Any]:
    """Several routes: everything, path prefixes, kinds, identity views with allow and deny rules."""
    from fastev.acl_rules import Identity, Rule, source_mask
    from fastev.event import KINDS
    from fastev.routes import CompiledRoute

    every = (1 << len(KINDS)) - 1
    rules = [
        Rule("allow", ("group:/atlas",), ("/pnfs", "/gpfs/scratch"), every),
        Rule("deny", ("group:/atlas",), ("/pnfs/lab.example/cms",), every),
        Rule("allow", ("*",), ("/beamline-7",), 1 << KINDS.index("UPLOAD")),
        Rule("allow", ("user:alice",), ("/",), every),
        Rule("deny", ("user:alice",), ("/pnfs/lab.example/photon/scratch",), 1 << KINDS.index("DELETE")),
        # rules limited to sources (docs/formats.md §6): an S3 event may not speak for dCache's /pnfs
        Rule("allow", ("user:bob",), ("/pnfs",), every, source_mask(("dcache-billing", "dcache-inotify"))),
        Rule("allow", ("user:bob",), ("/",), every, source_mask(("s3",))),
        Rule("deny", ("user:bob",), ("/gpfs/fs1",), every, source_mask(("gpfs-audit",))),
    ]
    atlas = acl.IdentityView(rules, Identity(user="a", groups=("/atlas",)))
    anyone = acl.IdentityView(rules, Identity())
    alice = acl.IdentityView(rules, Identity(user="alice"))
    bob = acl.IdentityView(rules, Identity(user="bob"))
    return [
        CompiledRoute("all", None, ()),
        CompiledRoute("photon", acl.PrefixFilter(["/pnfs/lab.example/photon", "/gpfs"], []), ()),
        CompiledRoute("kinds", acl.PrefixFilter([], ["UPLOAD", "DELETE", "RENAME", "MOVED_OUT"]), ()),
        CompiledRoute("atlas", None, (atlas,)),
        CompiledRoute("both", acl.PrefixFilter(["/"], ["UPLOAD", "CREATE"]), (atlas, anyone)),
        CompiledRoute("alice", acl.PrefixFilter(["/pnfs", "/beamline-7", "/gpfs/fs1"], []), (alice,)),
        CompiledRoute("bob", None, (bob,)),
        CompiledRoute("gpfs-only", acl.PrefixFilter(["/"], [], ["gpfs-audit", "gpfs-watch"]), (bob, anyone)),
    ]


def _errors(errors: list[Any]) -> list[tuple[Any, ...]]:
    return [e.key() + (e.raw,) for e in errors]


def _decoded(batch: Any) -> tuple[Any, ...]:
    # repr keeps key order (attribute order is output) and tells True from 1
    return repr(batch.events), _errors(batch.errors), batch.stats.as_dict()


def _routed(rb: Any) -> tuple[Any, ...]:
    routes = [(r, rb.count(r), rb.payloads(r), rb.block(r), rb.blocks(r, 3, 300), rb.ids(r), rb.paths(r))
              for r in rb.routes]
    return routes, _errors(rb.errors), rb.stats.as_dict()


def run(side: Side, case: Case) -> list[Any]:
    """The case's output on one side, feed by feed; an exception is output too (type and message)."""
    out: list[Any] = []
    opts = dict(case.options)
    try:
        if case.target.startswith("decode"):
            obj = side.decoder(case.source, **opts)
            shape = _decoded
        else:
            framing = opts.pop("framing")
            obj = side.transcoder(case.source, side.routes, framing=framing, schema_id=opts.pop("schema_id"),
                                  **opts)
            shape = _routed
        if case.target.endswith("records"):
            out.append(shape(obj.feed_records(case.inputs, list(range(100, 100 + len(case.inputs))))))
        else:
            for chunk in case.inputs:
                out.append(shape(obj.feed(chunk)))
        out.append(shape(obj.finish()))
    except Exception as exc:  # noqa: BLE001 - an exception is part of the compared output
        out.append(("raised", type(exc).__name__, str(exc)))
    return out


def first_difference(native: list[Any], reference: list[Any]) -> str:
    """A short, stable description of where the outputs part (used to group findings)."""
    for a, b in zip(native, reference, strict=False):
        if a == b:
            continue
        if a[0] == "raised" or b[0] == "raised":
            return f"native {a[:2] if a[0] == 'raised' else 'ok'} / reference {b[:2] if b[0] == 'raised' else 'ok'}"
        errors_a, errors_b = a[1], b[1]
        if errors_a != errors_b:
            for ea, eb in zip(errors_a, errors_b, strict=False):
                if ea != eb:  # field and reason only (positions vary): findings group by cause
                    what = "raw" if ea[:-1] == eb[:-1] else f"native {ea[3:5]} / reference {eb[3:5]}"
                    return f"error {what}"
            return f"error count native {len(errors_a)} / reference {len(errors_b)}"
        if a[0] != b[0]:
            return "events differ" + _where(a[0], b[0])
        return "stats differ"
    return f"{len(native)} feeds native / {len(reference)} reference"


def _where(a: Any, b: Any) -> str:
    """The event field (decoder) or route part (transcoder) where the outputs first differ."""
    if isinstance(a, str) and isinstance(b, str):
        i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        j = a.rfind("': ", 0, i)
        return f" at {a[a.rfind(chr(39), 0, j) + 1:j]!r}" if j > 0 else ""
    parts = ("route", "count", "payloads", "block", "blocks", "ids", "paths")
    for ra, rb in zip(a, b, strict=False):
        for name, x, y in zip(parts, ra, rb, strict=False):
            if x != y:
                return f" in route {ra[0]!r} {name}"
    return " (route count)"


def raised(output: list[Any]) -> bool:
    return bool(output) and output[-1][0] == "raised"
