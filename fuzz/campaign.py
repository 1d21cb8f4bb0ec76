"""Batches and the worker loop: generate batch i from (seed, i), run both sides, save what differs.

A batch is one Case of BATCH_RECORDS mutated records of one source through one
target; batch i's source and target rotate so every pair is covered evenly.
Batches are many records per feed call because the per-call cost of the
reference would otherwise dominate.
"""
from __future__ import annotations

import ctypes
import hashlib
import io
import json
import os
import pickle
import random
import time
from pathlib import Path
from typing import Any

from .mutate import mutate
from .seeds import SOURCES, Corpus, watches
from .targets import NOW_US, TARGETS, Case, Side, first_difference, raised, run

BATCH_RECORDS = 256
MAX_SAVED_PER_SIGNATURE = 3
EOLS = [b"\n", b"\r\n", b"\n\n", b"\n \t\n", b"\r\n\r\n"]


def make_case(seed: int, index: int, corpus: Corpus, records: int = BATCH_RECORDS,
              counts: dict[str, int] | None = None) -> Case:
    """Batch ``index`` of campaign ``seed`` (deterministic); ``counts`` tallies its mutations."""
    counts = {} if counts is None else counts
    rng = random.Random(f"{seed}:{index}")
    pair = index % (len(SOURCES) * len(TARGETS))
    source, target = SOURCES[pair % len(SOURCES)], TARGETS[pair // len(SOURCES)]
    valid, invalid = corpus.valid[source], corpus.invalid[source]
    others = [r for s in SOURCES for r in corpus.valid[s][:20]]   # splice material, other sources included
    inputs, labels = [], []
    for _ in range(records):
        seed_record = rng.choice(valid if rng.random() < 0.85 else invalid)
        record, label = mutate(rng, seed_record, valid if rng.random() < 0.8 else others, counts)
        inputs.append(record)
        labels.append(label)
    options: dict[str, Any] = {"now_us": NOW_US, "pairing_window": rng.choice((1, 2, 4, 16, 128))}
    if source == "dcache-inotify":
        options["inotify_watches"] = watches()
    if rng.random() < 0.15:  # a source's declared namespace (docs/formats.md §6)
        options["path_prefix"] = rng.choice(("/s3", "/pnfs/lab.example", "/x/y/z"))
    if rng.random() < 0.15:
        options["max_record_bytes"] = rng.choice((1, 16, 64, 200, 1024, 4096))
    if target.startswith("transcode"):
        options["framing"] = rng.choice(("avro", "confluent"))
        options["schema_id"] = rng.choice((0, 7, 2**31 - 1))
    if rng.random() < 0.15:
        source = "auto"
    if target.endswith("stream"):
        inputs = _chunks(rng, inputs, sse=source == "dcache-inotify" or options.get("inotify_watches") is not None,
                         counts=counts)
    return Case(target, source, options, inputs, labels)


def _chunks(rng: random.Random, records: list[bytes], sse: bool, counts: dict[str, int]) -> list[bytes]:
    """The records as one stream, cut at random places (single bytes, inside UTF-8 and CRLF included)."""
    if sse:
        data = b"".join(r if rng.random() < 0.9 else r.rstrip(b"\r\n") + b"\n" for r in records)
    else:
        data = b"".join(r + rng.choice(EOLS) for r in records)
    if rng.random() < 0.3:
        data = data.rstrip(b"\r\n")     # no final newline: flushed by finish()
    n_cuts = rng.choice((0, 1, 5, 50, len(records), 4 * len(records)))
    counts["chunk-split"] = counts.get("chunk-split", 0) + n_cuts
    cuts = sorted(rng.randint(0, len(data)) for _ in range(n_cuts))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)], strict=False)]


def shrink(case: Case, native: Side, reference: Side) -> Case:
    """The first single input that still differs on its own (as records), else the case unchanged."""
    if not case.target.endswith("records"):
        return case
    for i, record in enumerate(case.inputs):
        small = Case(case.target, case.source, case.options, [record], case.labels[i:i + 1])
        if run(native, small) != run(reference, small):
            return small
    return case


class Findings:
    """Differences and exceptions, grouped by a short signature; a few reproducers saved per group."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.count = 0
        self.by_signature: dict[str, int] = {}

    def add(self, kind: str, case: Case, signature: str, detail: dict[str, Any]) -> str:
        self.count += 1
        key = f"{kind} {case.target} {case.source}: {signature}"
        seen = self.by_signature.get(key, 0)
        self.by_signature[key] = seen + 1
        if seen < MAX_SAVED_PER_SIGNATURE:
            save_reproducer(self.out, f"{kind}-{case.target}-{case.source}-{self.count}", case,
                            {"kind": kind, "signature": signature, **detail})
        return key


def save_reproducer(out: Path, name: str, case: Case, detail: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps({"finding": detail, "case": case.as_json()}, indent=1, default=repr))
    return path


def check(seed: int, index: int, corpus: Corpus, records: int, findings: Findings, native: Side,
          reference: Side) -> str | None:
    """Batch ``index`` through both sides in this process: the finding's signature, if any (saved)."""
    case = make_case(seed, index, corpus, records)
    a, b = run(native, case), run(reference, case)
    detail = {"batch": index, "seed": seed}
    if a != b:
        small = shrink(case, native, reference)
        return findings.add("difference", small, first_difference(run(native, small), run(reference, small)), detail)
    if raised(a):  # both sides raised: bad input must give structured errors, never an exception
        return findings.add("exception", case, repr(a[-1])[:200], detail)
    return None


def digest(output: Any) -> str:
    """A hash of the output that is equal when the outputs are equal. Pickle without its memo: with it,
    equal outputs would pickle differently when one side shares an object that the other copies."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=5)
    pickler.fast = True
    pickler.dump(output)
    return hashlib.blake2b(buf.getbuffer(), digest_size=16).hexdigest()


def run_side(seed: int, start: int, end: int, corpus: Corpus, side_name: str, records: int = BATCH_RECORDS,
             emit: Any = print) -> None:
    """One side of batches [start, end): ``emit`` gets a JSON line before and after each batch, the
    latter with a digest of the output. The sides run in separate processes (the reference one without
    the sanitizer runtime, which slows all of CPython down) and the supervisor compares the digests."""
    side = Side(native=side_name == "native")
    crash_at = int(os.environ.get("FASTEV_FUZZ_CRASH_AT", "-1"))  # the supervisor's own test: a real SIGSEGV
    for index in range(start, end):
        emit(json.dumps({"start": index}))
        if index == crash_at and side_name == "native":
            ctypes.string_at(0)
        counts: dict[str, int] = {}
        t0 = time.process_time()
        case = make_case(seed, index, corpus, records, counts)
        output = run(side, case)
        emit(json.dumps({"batch": index, "target": case.target, "source": case.source, "records": records,
                         "mutations": counts, "digest": digest(output),
                         "raised": raised(output), "cpu": round(time.process_time() - t0, 4)}))
