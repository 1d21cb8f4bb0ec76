"""Worst-case records per decoder (issue 9 A1, A2, D1): one hostile ~256 KiB record each, native
and reference (bench_codec.py times typical records). `fastev bench codec --adversarial` reports
all hostile cases as cost per byte against typical records, at two sizes.
Run: PYTHONPATH=src python -m pytest benchmarks/bench_codec_adversarial.py --benchmark-only -q
"""
from __future__ import annotations

from typing import Any

import pytest

from fastev._ref import decoder as ref
from fastev.bench.codec_adversarial import INOTIFY_WATCHES, MAX_BYTES, cases

SIZE = 256 << 10
CASES = {f"{d}: {c}": (d, raw) for d, c, raw in cases(SIZE)
         if c in ("groups at the cap, repeated", "many records in one message", "many rejected items")}
OPTS = {"max_record_bytes": MAX_BYTES, "now_us": 0, "inotify_watches": INOTIFY_WATCHES}


def _native() -> Any:
    from fastev._core import codec

    return codec


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.benchmark(group="codec-adversarial-256k")
def test_native(benchmark: Any, name: str) -> None:
    decoder, raw = CASES[name]
    dec = _native().Decoder
    benchmark(lambda: dec(decoder, **OPTS).feed_records([raw]))


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.benchmark(group="codec-adversarial-256k")
def test_reference(benchmark: Any, name: str) -> None:
    decoder, raw = CASES[name]
    benchmark.pedantic(lambda: ref.Decoder(decoder, **OPTS).feed_records([raw]), rounds=3, iterations=1)
