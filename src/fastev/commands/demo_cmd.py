"""``fastev demo``: the main job on the embedded samples.

Decodes a sample of every source, routes it through a demo ACL and routes,
Avro-encodes per route and checks that every payload reads back with fastavro,
then prints what each route got. (With the Kafka sink, later, the same config
feeds topics on an embedded broker.)
"""
from __future__ import annotations

import argparse
import io
import json
from typing import Any, cast


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the main job on embedded sample data", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import fastavro  # imported here: `fastev decode` should not pay for the demo's imports
    from rich.console import Console
    from rich.table import Table

    from ..decoding import IMPLEMENTATION
    from ..demo import SAMPLES, demo_dir
    from ..event import schema
    from ..routes import load_routes
    from ..transcode import Transcoder

    console = Console(width=max(140, Console().width))
    base = demo_dir()
    config = load_routes(base / "routes.toml")
    watches = json.loads((base / "dcache-inotify.watches.json").read_text())
    parsed = fastavro.parse_schema(schema())
    per_route: dict[str, list[dict[str, Any]]] = {r.name: [] for r in config.routes}
    sources = Table(title=f"fastev demo: decode ({IMPLEMENTATION} core)")
    for col in ("source", "records", "decoded", "skipped", "rejected", "loss signals"):
        sources.add_column(col, justify="right" if col != "source" else "left")
    for source, name in SAMPLES:
        tc = Transcoder(source, config, inotify_watches=watches)
        batches = [tc.feed((base / name).read_bytes()), tc.finish()]
        st = [b.stats for b in batches]
        sources.add_row(source, *(str(sum(getattr(s, k) for s in st))
                                  for k in ("records", "decoded", "skipped", "rejected", "loss")))
        for b in batches:
            for route in b.routes:
                for payload in b.payloads(route):
                    # read back with an independent Avro reader: what a consumer would see
                    record = fastavro.schemaless_reader(io.BytesIO(payload), parsed)
                    per_route[route].append(cast(dict[str, Any], record))
    console.print(sources)
    routes = Table(title="routes (Avro payloads read back with fastavro)")
    routes.add_column("route")
    routes.add_column("events", justify="right")
    routes.add_column("kinds", max_width=40)
    routes.add_column("sample paths", overflow="fold")
    for spec in config.routes:
        events = per_route[spec.name]
        kinds = sorted({e["kind"] for e in events})
        paths = list(dict.fromkeys(e["path"] for e in events if e["path"]))[:3]
        routes.add_row(spec.name, str(len(events)), ", ".join(kinds), "\n".join(paths))
    console.print(routes)
    return 0
