"""`fastev bench codec --adversarial`: its hostile records decode the same in both cores, and it reports."""
from __future__ import annotations

from pathlib import Path

import pytest

from fastev._ref import decoder as ref
from fastev.bench import codec_adversarial as adv

from ..core._support import NO_EXTENSIONS, error_keys, events_repr


@pytest.mark.skipif(NO_EXTENSIONS, reason="compares the native core with the reference")
def test_hostile_records_decode_identically() -> None:
    from fastev._core import codec

    for decoder, case, raw in adv.cases(8 << 10):
        assert 6 << 10 < len(raw) <= 8 << 10, case
        opts = {"max_record_bytes": adv.MAX_BYTES, "now_us": 0, "inotify_watches": adv.INOTIFY_WATCHES}
        a, b = codec.Decoder(decoder, **opts).feed_records([raw]), ref.Decoder(decoder, **opts).feed_records([raw])
        assert events_repr(a.events) == events_repr(b.events), case
        assert error_keys(a.errors) == error_keys(b.errors), case
        assert a.stats.as_dict() == b.stats.as_dict(), case
        assert a.stats.records == 1 and a.stats.decoded + a.stats.rejected >= 1, case


def test_report_is_written(tmp_path: Path) -> None:
    rep = adv.run(sizes=(2 << 10,), typical_records=20, repeats=1, out_dir=tmp_path)
    md = (tmp_path / f"codec-adversarial-{rep['host']}.md").read_text()
    assert (tmp_path / f"codec-adversarial-{rep['host']}.json").exists()
    assert len(rep["cases"]) == len(adv.cases(2 << 10)) and "| s3 | many rejected items |" in md
    assert all(r["reference"]["ns_per_byte"] > 0 for r in rep["cases"])
