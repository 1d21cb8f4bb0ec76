"""``fastev route``: which routes take which events.

Prints one JSON line ``{"route", "id", "path"}`` per (event, route) pair;
rejected records go to stderr as JSON lines. Exit 1 if any record was rejected.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from ..options import SOURCE_NAMES
from ._io import CONFIG_ERRORS, ErrorSink, batches, fail, load_watches, open_inputs


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
    from ..routes import load_routes
    from ..transcode import Transcoder

    try:
        config = load_routes(args.config)
        watches = load_watches(args.inotify_watches)
        inputs = open_inputs(args.inputs)
        errors = ErrorSink(args.errors)
    except CONFIG_ERRORS as e:
        return fail(str(e))
    stats = DecodeStats()
    out = sys.stdout.buffer
    try:
        for name, f in inputs:
            tc = Transcoder(args.source, config, inotify_watches=watches)
            for batch in batches(tc, f):
                for route in batch.routes:
                    for ev_id, path in zip(batch.ids(route), batch.paths(route), strict=True):
                        out.write(orjson.dumps({"route": route, "id": ev_id, "path": path}) + b"\n")
                errors.write(batch.errors, name)
                stats.add(batch.stats)
    except CONFIG_ERRORS as e:
        return fail(str(e))
    finally:
        errors.close()
    out.flush()
    return 1 if stats.rejected else 0
