"""File checkpoints are written at most every interval, never ahead of what was released, and flushed."""
from __future__ import annotations

from pathlib import Path

import pytest

from fastev.errors import ConfigError
from fastev.pipeline import load_config
from fastev.pipeline.checkpoint import FileCheckpoints


def test_commit_writes_at_most_every_interval_and_flush_writes_the_newest(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_bytes(b"x\n" * 100)
    st = data.stat()
    now = [100.0]
    cp = FileCheckpoints(tmp_path / "state", interval_s=0.5, clock=lambda: now[0])
    cp.commit(data, st, 10)
    assert cp.offset(data) == 10  # the first position is written at once
    now[0] += 0.1
    cp.commit(data, st, 20)
    cp.commit(data, st, 30)
    assert cp.offset(data) == 10  # within the interval: held back, never ahead of a release
    now[0] += 0.5
    cp.commit(data, st, 40)
    assert cp.offset(data) == 40
    now[0] += 0.1
    cp.commit(data, st, 50)
    cp.flush()
    assert cp.offset(data) == 50  # the end of a run (or a shutdown) writes what was released
    cp.commit(data, st, st.st_size)
    assert cp.offset(data) == st.st_size  # the end of the file: at once, whatever the interval
    cp.flush()
    assert cp.offset(data) == st.st_size


def test_checkpoint_interval_config(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text("")
    base = '[[source]]\ntype = "file"\nformat = "dcache-billing"\npaths = ["x.jsonl"]\n' \
           '[[route]]\nname = "r"\ntopic = "t"\n'
    cfg = tmp_path / "a.toml"
    cfg.write_text(base)
    assert load_config(cfg).checkpoint_interval_s == 0.5
    cfg.write_text(base + "[state]\ncheckpoint_interval_s = 0\n")
    assert load_config(cfg).checkpoint_interval_s == 0.0
    for bad in ('"1"', "-1", "true"):
        cfg.write_text(base + f"[state]\ncheckpoint_interval_s = {bad}\n")
        with pytest.raises(ConfigError, match="checkpoint_interval_s"):
            load_config(cfg)
