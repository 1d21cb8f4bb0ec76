"""``fastev route``: which routes take which events.

Prints one JSON line ``{"route", "id", "path"}`` per (event, route) pair;
rejected records go to stderr as JSON lines, then one summary line (records,
events per route). The config is a routes file (``[acl]``, ``[[route]]``) or a
whole ``fastev run`` config; an unknown top-level key (``[[routes]]``) is an
error. Exit status: 0 nothing rejected, 1 some record rejected, 2 usage or
configuration error.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from ..options import SOURCE_NAMES
from ._io import CONFIG_ERRORS, ErrorWriter, batches, fail, load_watches, open_inputs


def add_parser(sub: Any) -> None:
    p = sub.add_parser("route", help="show which routes take which events", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE", help="TOML with [acl] and [[route]] tables")
    p.add_argument("--source", required=True, choices=SOURCE_NAMES)
    p.add_argument("--inotify-watches", metavar="FILE")
    p.add_argument("--errors", metavar="FILE")
    p.add_argument("inputs", nargs="*", metavar="INPUT")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..decoding import DecodeStats
    from ..pipeline.config import load_routes_config
    from ..transcode import Transcoder

    try:
        config = load_routes_config(args.config)
        watches = load_watches(args.inotify_watches)
        inputs = open_inputs(args.inputs)
        errors = ErrorWriter(args.errors)
    except CONFIG_ERRORS as e:
        return fail(str(e))
    stats = DecodeStats()
    per_route = {r.name: 0 for r in config.routes}
    out = sys.stdout.buffer
    try:
        for name, f in inputs:
            tc = Transcoder(args.source, config, inotify_watches=watches)
            for batch in batches(tc, f):
                for route in batch.routes:
                    ids = batch.ids(route)
                    per_route[route] = per_route.get(route, 0) + len(ids)
                    for ev_id, path in zip(ids, batch.paths(route), strict=True):
                        out.write(orjson.dumps({"route": route, "id": ev_id, "path": path}) + b"\n")
                errors.write(batch.errors, name)
                stats.add(batch.stats)
    except CONFIG_ERRORS as e:
        return fail(str(e))
    finally:
        for _, f in inputs:
            if f is not sys.stdin.buffer:
                f.close()
        errors.close()
    out.flush()
    routed = ", ".join(f"{route} {n}" for route, n in per_route.items()) or "no routes"
    print(f"fastev route: {stats.decoded} decoded, {stats.skipped} skipped, {stats.rejected} rejected, "
          f"{stats.loss} loss signals ({stats.records} records, source {args.source}); events per route: "
          f"{routed}", file=sys.stderr)
    return 1 if stats.rejected else 0
