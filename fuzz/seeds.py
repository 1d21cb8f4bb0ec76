"""Seed corpora per source: the committed samples plus records from the test generators.

The generators (tests/core/_gen.py, hypothesis strategies) are drawn with
derandomize=True, yet what they draw also depends on the state of the process
(what was imported and drawn before). So a campaign builds its corpus once, in
the supervisor, and hands the workers the saved file (corpus.json in the output
directory): every process then makes the same batch from (seed, index).
dcache-inotify records are SSE frames.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "data" / "samples"
JSON_SOURCES = ("dcache-billing", "gpfs-audit", "gpfs-watch", "s3")
SOURCES = JSON_SOURCES + ("dcache-inotify",)

SUB = "https://frontend.lab.example:3880/api/v1/events/channels/Zm9vYmFyY2hhbm5lbA/subscriptions/inotify/"
INOTIFY_FLAGS = ["IN_CREATE", "IN_OPEN", "IN_MODIFY", "IN_CLOSE_WRITE", "IN_CLOSE_NOWRITE", "IN_ATTRIB",
                 "IN_MOVED_FROM", "IN_MOVED_TO", "IN_DELETE", "IN_DELETE_SELF", "IN_MOVE_SELF", "IN_ISDIR",
                 "IN_IGNORED", "IN_Q_OVERFLOW", "IN_UNMOUNT", "IN_ACCESS", "IN_X"]


def watches() -> dict[str, str]:
    result: dict[str, str] = json.loads((SAMPLES / "dcache-inotify.watches.json").read_text())
    return result


def _sample_records(source: str) -> list[bytes]:
    if source == "dcache-inotify":
        text = (SAMPLES / "dcache-inotify.sse").read_bytes()
        return [frame + b"\n\n" for frame in text.split(b"\n\n") if frame.strip()]
    return [line for line in (SAMPLES / f"{source}.jsonl").read_bytes().splitlines() if line.strip()]


def _inotify_frames(rng: random.Random, subs: list[str], n: int) -> list[bytes]:
    """Synthetic SSE frames: inotify events (pairs of moves among them), SYSTEM frames, comments."""
    frames = []
    for i in range(n):
        kind = rng.choice(["inotify"] * 6 + ["SYSTEM", "metronome", ""])
        if kind == "SYSTEM":
            body: Any = {"type": rng.choice(["NEW_SUBSCRIPTION", "EVENT_LOSS", "SUBSCRIPTION_CLOSED", 3, None]),
                         "subscription": rng.choice(subs)}
        else:
            ev: dict[str, Any] = {"mask": rng.sample(INOTIFY_FLAGS, rng.choice((1, 1, 2, 3)))}
            if rng.random() < 0.9:
                ev["name"] = rng.choice(["f.h5", "upload_1.h5", "calib", "..", ".", "a/b", "", "é", "x y", "\n"])
            if rng.random() < 0.4:
                ev["cookie"] = rng.choice(["1", "2", "77", 3, "", None])
            body = {"event": ev, "subscription": rng.choice(subs)}
        data = json.dumps(body, ensure_ascii=rng.random() < 0.5).encode()
        head = b"event: " + kind.encode() + b"\n" if kind else b""
        fid = rng.choice([b"id: %d\n" % i, b"", b"id:\n"])
        frames.append(head + fid + b"data: " + data + b"\n" + rng.choice([b"\n", b"\r\n", b": keepalive\n\n"]))
    return frames


PRINCIPALS = ["UserNamePrincipal[alice]", "UidPrincipal[1000]", "GidPrincipal[1000,primary]", "GidPrincipal[2000]",
              "FQANPrincipal[/atlas/Role=production,primary]", "FQANPrincipal[/atlas]", "OpenIdGroup[/dune]",
              "GroupNamePrincipal[atlas,primary]", "GroupNamePrincipal[cms]", "Origin[192.0.2.10]", "/DC=org/CN=Dan"]


def _with_subjects(rng: random.Random, records: list[bytes], n: int) -> list[bytes]:
    """Billing records with long subjects, groups repeated among them (the generators rarely draw groups)."""
    out = []
    for raw in rng.choices(records, k=n):
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if isinstance(rec, dict):
            rec["subject"] = rng.choices(PRINCIPALS, k=rng.choice((2, 5, 12, 40)))
            out.append(json.dumps(rec).encode())
    return out


def _generated(source: str, mutate: bool, n: int) -> list[bytes]:
    """n records drawn from the test generators (empty when the tests package is not importable)."""
    try:
        from hypothesis import HealthCheck, Phase, given, settings
        from tests.core._gen import record_bytes
    except ImportError:
        return []
    out: list[bytes] = []

    @settings(database=None, derandomize=True, max_examples=n, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(record_bytes(source, mutate))
    def collect(record: bytes) -> None:
        out.append(record)

    collect()
    return out


@dataclass
class Corpus:
    """Per source: records meant to be valid (samples, valid generators) and generated invalid ones."""

    valid: dict[str, list[bytes]]
    invalid: dict[str, list[bytes]]

    def save(self, path: Path) -> None:
        hexed = {name: {s: [r.hex() for r in recs] for s, recs in part.items()}
                 for name, part in (("valid", self.valid), ("invalid", self.invalid))}
        path.write_text(json.dumps(hexed))

    @classmethod
    def load(cls, path: Path) -> Corpus:
        obj = json.loads(path.read_text())
        return cls(*({s: [bytes.fromhex(r) for r in recs] for s, recs in obj[name].items()}
                     for name in ("valid", "invalid")))


def corpus(seed: int, generated: int = 150) -> Corpus:
    """Seed records per source; ``generated`` valid and as many invalid records from the generators."""
    rng = random.Random(f"corpus:{seed}")
    known = list(watches())
    result = Corpus({}, {})
    for source in SOURCES:
        valid = _sample_records(source)
        if source == "dcache-inotify":
            valid += _inotify_frames(rng, known, generated)
            invalid = _inotify_frames(rng, known + [SUB + "unknown", SUB, "", "BBB"], generated)
        else:
            valid += _generated(source, False, generated)
            invalid = _generated(source, True, generated)
        if source == "dcache-billing":
            valid += _with_subjects(rng, valid, generated // 3)
        result.valid[source], result.invalid[source] = valid, invalid or valid
    return result
