"""Resume positions: restarting from any position a source reported loses no event (no broker needed).

The property behind at-least-once for files: after chunk k the source reports
position p; a crash then a restart from p must still yield every event, i.e.
events emitted up to chunk k plus the events of decoding data[p:] cover all
events of the whole input. Moves held back by the pairing window make this
non-trivial (the position lags pairing_window + 1 records).
"""
from __future__ import annotations

import json
import random
from typing import Any

import pytest

from fastev import Decoder
from fastev.bench.records import INOTIFY_WATCHES, generate
from fastev.pipeline.checkpoint import CompletionTracker
from fastev.pipeline.sources import RecordLag, _line_position


def gpfs_with_moves(n: int, rng: random.Random) -> bytes:
    recs = [json.loads(r) for r in generate("gpfs-watch", n, seed=rng.randint(0, 99))]
    cookie = 0
    out: list[bytes] = []
    for i, rec in enumerate(recs):
        if rng.random() < 0.3 and i + 1 < len(recs):
            cookie += 1
            rec.update(event="IN_MOVED_FROM", mask="0x00000040", cookie=str(cookie))
            j = min(len(recs) - 1, i + rng.choice((1, 2, 5, 9, 30)))
            if recs[j]["cookie"] == "0":
                recs[j].update(event="IN_MOVED_TO", mask="0x00000080", cookie=str(cookie))
        out.append(json.dumps(rec).encode())
        if rng.random() < 0.05:
            out.append(rng.choice((b"", b"  ", b"\r")))
    return b"\n".join(out) + b"\n"


def inotify_with_moves(n: int, rng: random.Random) -> bytes:
    frames = []
    for i, f in enumerate(generate("dcache-inotify", n, seed=rng.randint(0, 99))):
        if rng.random() < 0.3:
            kind = rng.choice(("IN_MOVED_FROM", "IN_MOVED_TO"))
            f = f.replace(b'"mask": [', b'"cookie": "c%d", "mask": ["%s", ' % (i // 3, kind.encode()))
        frames.append(f)
        if rng.random() < 0.05:
            frames.append(rng.choice((b": keepalive\n\n", b"event: metronome\ndata: {}\n\n")))
    return b"".join(frames)


def ids(batches: list[Any]) -> set[str]:
    return {e["id"] for b in batches for e in b.events}


@pytest.mark.parametrize("fmt", ["gpfs-watch", "dcache-inotify"])
@pytest.mark.parametrize("seed", range(4))
def test_restart_from_any_reported_position_loses_nothing(fmt: str, seed: int) -> None:
    rng = random.Random(seed)
    window = rng.choice((1, 3, 8))
    opts: dict[str, Any] = {"pairing_window": window}
    if fmt == "dcache-inotify":
        opts["inotify_watches"] = INOTIFY_WATCHES
        data = inotify_with_moves(300, rng)
    else:
        data = gpfs_with_moves(300, rng)
    full = Decoder(fmt, **opts)
    everything = ids([full.feed(data), full.finish()])
    assert len(everything) > 200

    dec = Decoder(fmt, **opts)
    lag = RecordLag(window, fmt == "dcache-inotify", 0)
    emitted: list[Any] = []
    pos, positions = 0, []
    while pos < len(data):
        step = rng.choice((1, 7, 100, 2000))
        chunk = data[pos:pos + step]
        pos += len(chunk)
        emitted.append(dec.feed(chunk))
        p = lag.feed(chunk)
        if p is not None:
            positions.append(p)
            assert data[p - 1:p] == b"\n"  # a record boundary
            restart = Decoder(fmt, **opts)
            after = ids([restart.feed(data[p:]), restart.finish()])
            missing = everything - ids(emitted) - after
            assert not missing, f"restart at {p} after {pos} bytes loses {len(missing)} events"
    assert positions == sorted(positions) and positions


def test_plain_formats_resume_after_the_last_line() -> None:
    assert _line_position(b'{"a":1}\n{"b"', 100) == 108
    assert _line_position(b'{"partial', 100) is None


def test_completion_tracker_releases_only_the_completed_prefix() -> None:
    released: list[Any] = []
    t = CompletionTracker(released.extend)
    for seq, pos in ((1, 10), (2, None), (3, 30), (4, 40)):
        t.add(seq, pos)
    t.done(3)
    t.done(2)
    assert released == [] and t.pending == 4
    t.done(1)
    assert released == [10, 30] and t.pending == 1
    t.done(4)
    assert released == [10, 30, 40] and t.pending == 0
    with pytest.raises(ValueError):
        t.add(4, 50)
