"""`fastev bench pipeline` end to end at a tiny size, on the real broker it starts itself."""
from __future__ import annotations

from pathlib import Path

from fastev.bench import pipeline
from fastev.kafka.native_publisher import IMPLEMENTATION


def test_bench_pipeline_small_run_delivers_every_row_and_accounts_cpu(tmp_path: Path) -> None:
    n = 3000
    report = pipeline.run(n, rates=(2000,), seconds=0.5, out_dir=tmp_path, repeats=1)
    rows = report["throughput"]
    expected_rows = {"fastev avro", "fastev ocf", "fastev ocf, lz4", "peer bridge",
                     "producer only, produce_batch, no headers", "producer only, produce + CloudEvents headers",
                     "producer only, ocf containers", "producer only, ocf containers, lz4"}
    if IMPLEMENTATION == "native":
        expected_rows.add("producer only, native produce + CloudEvents headers")
    assert set(rows) == expected_rows
    for name, row in rows.items():
        assert row["events_per_s"] > 0 and row["seconds"] > 0, name
        assert row["cpu_s_bench_process"] >= 0 and row["cpu_s_broker"] >= 0, (name, row)
    # The peer's json + fastavro work on 3,000 records is tens of ms of the bench process's CPU.
    assert rows["peer bridge"]["cpu_s_bench_process"] > 0.01
    # Counted by consuming back: every event of every run (plus the warm-ups) is on its topic.
    delivered = report["delivered"]
    for topic in ("t-avro", "t-peer", "t-ocf (events in containers)", "t-ocf-lz4 (events in containers)"):
        assert delivered[topic] == n + pipeline.WARMUP, topic
    for topic in ("t-ceiling-batch", "t-ceiling-headers"):
        assert delivered[topic] == n + 1, topic
    # The ocf ceiling sends fastev's own containers: their events, plus its one warm-up container.
    first_container = min(n, 1000)
    assert delivered["t-ceiling-ocf (events in containers)"] == n + first_container
    assert report["ocf_messages"]["messages"] == -(-n // 1000)
    (lat,) = report["latency"]["fastev avro"]
    assert lat["offered_per_s"] == 2000 and lat["p99_ms"] > 0
    assert (tmp_path / f"pipeline-{report['host']}.json").exists()
    md = pipeline.markdown(report)
    assert "producer only, ocf containers" in md and "- fastev ocf: " in md  # set against its ceiling
