"""``fastev decode``: raw records -> normalised events as JSON lines or one Avro container file.

Exit 0 if nothing was rejected, 1 if any record was rejected, 2 for usage
errors or unreadable input. Valid records around rejected ones still come out.
"""
from __future__ import annotations

import argparse
import sys
from typing import IO, Any, BinaryIO, cast

import orjson

from ..decoding import SOURCE_NAMES, Decoder, DecodeStats
from ..routes import RouteSpec
from ..transcode import Transcoder
from ._io import CONFIG_ERRORS, ErrorSink, batches, fail, load_watches, open_inputs


def add_parser(sub: Any) -> None:
    p = sub.add_parser("decode", help="decode raw storage records to normalised events",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, choices=SOURCE_NAMES)
    p.add_argument("--inotify-watches", metavar="FILE",
                   help="JSON object: subscription URL (or its last segment) -> watched directory")
    p.add_argument("--output", choices=("jsonl", "avro"), default="jsonl")
    p.add_argument("--codec", choices=("null", "deflate"), default="null", help="Avro container codec")
    p.add_argument("--errors", metavar="FILE", help="rejected records as JSON lines (default: stderr)")
    p.add_argument("--max-record-bytes", type=int, default=1 << 20, metavar="N")
    p.add_argument("--pairing-window", type=int, default=128, metavar="N",
                   help="records to wait for the IN_MOVED_TO of an IN_MOVED_FROM")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="files, or - for stdin (default)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        watches = load_watches(args.inotify_watches)
        inputs = open_inputs(args.inputs)
        errors = ErrorSink(args.errors)
    except CONFIG_ERRORS as e:
        return fail(str(e))
    options = {"inotify_watches": watches, "max_record_bytes": args.max_record_bytes,
               "pairing_window": args.pairing_window}
    stats = DecodeStats()
    out = sys.stdout.buffer
    try:
        if args.output == "avro":
            _to_avro(inputs, args, options, errors, stats, out)
        else:
            _to_jsonl(inputs, args, options, errors, stats, out)
    except CONFIG_ERRORS as e:
        return fail(str(e))
    finally:
        for _, f in inputs:
            if f is not sys.stdin.buffer:
                f.close()
        errors.close()
    out.flush()
    print(f"fastev decode: {stats.decoded} decoded, {stats.skipped} skipped, {stats.rejected} rejected, "
          f"{stats.loss} loss signals ({stats.records} records, source {args.source})", file=sys.stderr)
    return 1 if stats.rejected else 0


def _to_jsonl(inputs: list[tuple[str, IO[bytes]]], args: argparse.Namespace, options: dict[str, Any],
              errors: ErrorSink, stats: DecodeStats, out: IO[bytes]) -> None:
    dumps = orjson.dumps
    for name, f in inputs:
        dec = Decoder(args.source, **options)
        for batch in batches(dec, f):
            if batch.events:
                out.write(b"\n".join(dumps(ev) for ev in batch.events) + b"\n")
            errors.write(batch.errors, name)
            stats.add(batch.stats)


def _to_avro(inputs: list[tuple[str, IO[bytes]]], args: argparse.Namespace, options: dict[str, Any],
             errors: ErrorSink, stats: DecodeStats, out: IO[bytes]) -> None:
    from ..avro import OcfWriter

    writer = OcfWriter(cast(BinaryIO, out), codec=args.codec)
    for name, f in inputs:
        # One catch-all route: the native hot path encodes straight into the block buffer.
        tc = Transcoder(args.source, [RouteSpec("all")], **options)
        for batch in batches(tc, f):
            n = batch.count("all")
            if n:
                writer.write_block(n, batch.block("all"))
            errors.write(batch.errors, name)
            stats.add(batch.stats)
            del batch  # released before the next feed, so the codec can reuse its buffers
    writer.close()
