"""--summary-json naming a path that cannot be written: one line, exit 2, the run's work kept."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fastev.bench.records import stream
from fastev.pipeline import load_config
from fastev.pipeline.checkpoint import FileCheckpoints

from .conftest import finish, write_config


def test_an_unwritable_summary_path_is_one_line_and_exit_2(broker: Any, new_topic: Any, fastev_run: Any,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(stream("dcache-billing", 50, seed=1))
    config = write_config(tmp_path / "run.toml", bootstrap=broker.bootstrap,
                          routes=[{"name": "all", "topic": new_topic()}],
                          sources=[{"type": "file", "format": "dcache-billing", "paths": [str(path)]}])
    code, out, err = finish(fastev_run(config, "--summary-json", str(tmp_path / "missing" / "s.json")))
    assert code == 2, err
    assert "Traceback" not in err
    # refused before anything is read or delivered: the path is checked at the start, not at the end
    assert err.splitlines() == [
        f"fastev run: error: --summary-json: cannot write {tmp_path / 'missing' / 's.json'}: no such directory"]
    assert "delivered" not in out
    assert FileCheckpoints(load_config(config).state_dir).offset(path) is None  # no checkpoint written
