"""`fastev bench sse` end to end at a tiny size: both servers deliver what was offered to the swarm."""
from __future__ import annotations

from pathlib import Path

from fastev.bench import sse


def test_bench_sse_small_round_delivers_every_offered_frame(tmp_path: Path) -> None:
    report = sse.run(clients=40, rate=40, seconds=1.0, out_dir=tmp_path, budget_s=100)
    (row,) = report["rounds"]
    for impl in ("fastev", "peer"):
        r = row[impl]
        assert r["connected"] == 40 and r["connect_failures"] == 0, (impl, r)
        # Every event goes to the 10 clients of its community; the window's frames all arrive after the drain.
        assert r["frames_expected"] == r["events_published"] * 10 > 0, (impl, r)
        assert r["delivered_fraction_after_drain"] >= 0.99, (impl, r)
        assert r["overflow_drops"] == 0 and r["client_disconnects"] == 0, (impl, r)
        assert r["p99_ms"] > 0, (impl, r)
    assert row["fastev"]["socket_writes_per_s"] > 0
    assert (tmp_path / f"sse-{report['host']}.json").exists() and "fastev" in sse.markdown(report)
