"""The fuzz harness: deterministic batches, every target and source covered, findings caught and replayable.

Needs the native core (the campaign compares it with the reference).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fuzz.campaign import Findings, check, make_case, run_side
from fuzz.mutate import MUTATIONS
from fuzz.seeds import SOURCES, Corpus, corpus
from fuzz.targets import TARGETS, Case, Side, first_difference, run

from fastev._ref.transcoder import CompiledRoute

from ..core._support import native_codec

native_codec()  # skips the module under FASTEV_NO_EXTENSIONS=1
REPO = Path(__file__).resolve().parents[2]
SEEDS = corpus(3, generated=20)


def test_batches_are_a_function_of_seed_index_and_the_saved_corpus(tmp_path: Path) -> None:
    SEEDS.save(tmp_path / "corpus.json")
    assert make_case(3, 7, SEEDS, 64) == make_case(3, 7, Corpus.load(tmp_path / "corpus.json"), 64)
    assert make_case(3, 7, SEEDS, 64).inputs != make_case(4, 7, SEEDS, 64).inputs


def test_every_target_source_pair_and_mutation_kind_is_exercised() -> None:
    counts: dict[str, int] = {}
    pairs = set()
    for index in range(len(SOURCES) * len(TARGETS)):
        case = make_case(3, index, SEEDS, 256, counts)
        pairs.add((case.target, case.source if case.source != "auto" else index % len(SOURCES)))
    assert len(pairs) == len(SOURCES) * len(TARGETS)
    assert set(MUTATIONS) | {"unchanged", "chunk-split"} == set(counts)


def test_a_short_campaign_finds_no_difference(tmp_path: Path) -> None:
    findings = Findings(tmp_path)
    sides = Side(native=True), Side(native=False)
    assert [check(3, i, SEEDS, 64, findings, *sides) for i in range(2 * len(SOURCES) * len(TARGETS))] == [None] * 40


def test_each_side_reports_the_same_digests_when_they_agree() -> None:
    digests = {}
    for side in ("native", "reference"):
        lines: list[str] = []
        run_side(3, 0, 5, SEEDS, side, 64, lines.append)
        digests[side] = [(x["batch"], x["digest"]) for x in map(json.loads, lines) if "batch" in x]
    assert len(digests["native"]) == 5 and digests["native"] == digests["reference"]


def test_a_routing_difference_is_found_and_replayable(tmp_path: Path) -> None:
    native, reference = Side(native=True), Side(native=False)
    # the reference's "alice" route loses its filter and view: routing must be what tells the sides apart
    reference.routes = [r if r.name != "alice" else CompiledRoute("alice", None, ()) for r in reference.routes]
    case = Case("transcode-records", "dcache-billing", {"now_us": 1, "framing": "avro", "schema_id": 0},
                (REPO / "tests/data/samples/dcache-billing.jsonl").read_bytes().splitlines())
    a, b = run(native, case), run(reference, case)
    assert a != b and "in route 'alice'" in first_difference(a, b)


def test_a_crashing_worker_is_a_finding_and_the_campaign_goes_on(tmp_path: Path) -> None:
    env = dict(os.environ, FASTEV_FUZZ_CRASH_AT="1")
    proc = subprocess.run([sys.executable, "-m", "fuzz", "run", "--records", "192", "--batch-records", "64",
                           "--generated", "5", "--out", str(tmp_path), "--quiet"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["records"] == 128 and report["findings"]["crashes"] == 1       # batches 0 and 2 ran
    path = next((tmp_path / "reproducers").glob("*-batch1.json"))  # "sanitizer-…" under ASan, else "crash-…"
    saved = json.loads(path.read_text())
    expected = make_case(1, 1, Corpus.load(tmp_path / "corpus.json"), 64)   # the batch the worker had started
    assert saved["finding"]["exit"] != 0 and Case.from_json(saved["case"]) == expected
    replay = subprocess.run([sys.executable, "-m", "fuzz", "replay", str(path)], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert replay.returncode == 0 and "agree" in replay.stdout  # the crash was the planted one, not the input


def test_a_difference_fails_the_campaign_and_its_reproducer_replays(tmp_path: Path) -> None:
    """A copy of fastev whose reference keeps repeated groups (the native core drops them)."""
    import shutil

    import fastev

    planted = tmp_path / "planted"
    shutil.copytree(Path(fastev.__file__).parent, planted / "fastev", ignore=shutil.ignore_patterns("__pycache__"))
    billing = planted / "fastev" / "_ref" / "billing.py"
    text = billing.read_text()
    assert "if value and value not in self.groups:" in text
    billing.write_text(text.replace("if value and value not in self.groups:", "if value:"))
    env = dict(os.environ, PYTHONPATH=str(planted))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "fuzz", "run", "--records", "5120", "--seed", "5", "--quiet",
                           "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert any("at 'groups'" in sig for sig in report["findings"]["by_signature"]), report["findings"]
    assert not any("not reproduced" in sig for sig in report["findings"]["by_signature"])
    saved = sorted((out / "reproducers").glob("difference-decode-records-*.json"))[0]
    assert len(json.loads(saved.read_text())["case"]["inputs"]) == 1        # shrunk to the one record
    replay = subprocess.run([sys.executable, "-m", "fuzz", "replay", str(saved)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert replay.returncode == 1 and "groups" in replay.stdout
