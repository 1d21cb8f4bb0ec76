"""``fastev decode``: raw records -> normalised events as JSON lines or one Avro container file.

Exit 0 if nothing was rejected, 1 if any record was rejected, 2 for usage
errors, unreadable input, or input that is not text at all (binary data).
Valid records around rejected ones still come out. At most --max-errors
rejected records are listed; the summary line counts the rest.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any, BinaryIO, cast

import orjson

from ..decoding import SOURCE_NAMES, Decoder, DecodeStats
from ..options import DEFAULT_MAX_RECORD_BYTES, DEFAULT_PAIRING_WINDOW, MAX_PAIRING_WINDOW, MAX_RECORD_BYTES_LIMIT
from ..routes import RouteSpec
from ..transcode import Transcoder
from ._io import CONFIG_ERRORS, ErrorWriter, UsageError, binary_reason, chunks, fail, load_watches, open_inputs

DEFAULT_MAX_ERRORS = 100
# Records of one input, all rejected, after which the summary asks whether --source is right.
HINT_AFTER = 100


def int_in(lo: int, hi: int | None) -> Callable[[str], int]:
    """argparse type: an integer in lo..hi (hi None: no upper bound); argparse names the flag."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is outside {lo}..{hi if hi is not None else ''}")
        return value
    return parse


def add_parser(sub: Any) -> None:
    p = sub.add_parser("decode", help="decode raw storage records to normalised events",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, choices=SOURCE_NAMES)
    p.add_argument("--inotify-watches", metavar="FILE",
                   help="JSON object: subscription URL (or its last segment) -> watched directory")
    p.add_argument("--output", choices=("jsonl", "avro"), default="jsonl")
    p.add_argument("--codec", choices=("null", "deflate"), default="null", help="Avro container codec")
    p.add_argument("--errors", metavar="FILE", help="rejected records as JSON lines (default: stderr)")
    p.add_argument("--max-errors", type=int_in(0, None), default=DEFAULT_MAX_ERRORS, metavar="N",
                   help=f"rejected records listed at most (default {DEFAULT_MAX_ERRORS}); the rest are counted")
    p.add_argument("--max-record-bytes", type=int_in(1, MAX_RECORD_BYTES_LIMIT), default=DEFAULT_MAX_RECORD_BYTES,
                   metavar="N")
    p.add_argument("--pairing-window", type=int_in(1, MAX_PAIRING_WINDOW), default=DEFAULT_PAIRING_WINDOW,
                   metavar="N", help="records to wait for the IN_MOVED_TO of an IN_MOVED_FROM")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="files, or - for stdin (default)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        watches = load_watches(args.inotify_watches)
        inputs = open_inputs(args.inputs)
        errors = ErrorWriter(args.errors, args.max_errors)
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
    unlisted = f"; {errors.suppressed} more errors not listed (--max-errors {args.max_errors})" \
        if errors.suppressed else ""
    print(f"fastev decode: {stats.decoded} decoded, {stats.skipped} skipped, {stats.rejected} rejected, "
          f"{stats.loss} loss signals ({stats.records} records, source {args.source}{unlisted})", file=sys.stderr)
    return 1 if stats.rejected else 0


def _feed(codec: Any, name: str, f: IO[bytes], source: str, stats: DecodeStats) -> Iterator[Any]:
    """Feed one input chunk by chunk (a binary input is refused at its first chunk: UsageError),
    adding each result's counters to ``stats``; one hint when no record of it is valid."""
    own = DecodeStats()
    hinted = text = False
    for i, data in enumerate(chunks(f)):
        if i == 0:
            why = binary_reason(data)
            if why is not None:
                raise UsageError(f"{name}: {why}, not text records (JSON lines or SSE)")
        text = text or bool(data.strip())
        batch = codec.feed(data)
        own.add(batch.stats)
        yield batch
        hinted = hinted or _hint(name, source, own)
    batch = codec.finish()
    own.add(batch.stats)
    yield batch
    stats.add(own)
    if not hinted and text and not own.records:   # e.g. text that has no SSE frame in it
        print(f"fastev decode: {name}: no {source} records found in it; is --source right?", file=sys.stderr)
    elif not hinted:
        _hint(name, source, own, final=True)


def _hint(name: str, source: str, st: DecodeStats, final: bool = False) -> bool:
    """Say once that an input looks like another format: its records so far are all rejected."""
    if st.rejected < st.records or not st.records or (st.records < HINT_AFTER and not final):
        return False
    print(f"fastev decode: {name}: none of its {st.records} records is valid {source} input; "
          f"is --source right?", file=sys.stderr)
    return True


def _to_jsonl(inputs: list[tuple[str, IO[bytes]]], args: argparse.Namespace, options: dict[str, Any],
              errors: ErrorWriter, stats: DecodeStats, out: IO[bytes]) -> None:
    dumps = orjson.dumps
    for name, f in inputs:
        dec = Decoder(args.source, **options)
        for batch in _feed(dec, name, f, args.source, stats):
            if batch.events:
                out.write(b"\n".join(dumps(ev) for ev in batch.events) + b"\n")
            errors.write(batch.errors, name)


def _to_avro(inputs: list[tuple[str, IO[bytes]]], args: argparse.Namespace, options: dict[str, Any],
             errors: ErrorWriter, stats: DecodeStats, out: IO[bytes]) -> None:
    from ..avro import OcfWriter

    writer = OcfWriter(cast(BinaryIO, out), codec=args.codec)
    for name, f in inputs:
        # One catch-all route: the native hot path encodes straight into the block buffer.
        tc = Transcoder(args.source, [RouteSpec("all")], **options)
        for batch in _feed(tc, name, f, args.source, stats):
            n = batch.count("all")
            if n:
                writer.write_block(n, batch.block("all"))
            errors.write(batch.errors, name)
            del batch  # released before the next feed, so the codec can reuse its buffers
    writer.close()
