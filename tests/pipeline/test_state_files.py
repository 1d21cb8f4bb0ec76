"""File checkpoints: identity (inode + fingerprint), wrong-shape state files, a full state disk, the embedded broker."""
from __future__ import annotations

import io
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fastev import decode
from fastev.bench.records import stream
from fastev.pipeline import load_config
from fastev.pipeline.checkpoint import FileCheckpoints, read_head

from .conftest import ENV, finish, header, run_command, write_config


def billing(n: int, seed: int) -> tuple[bytes, list[str]]:
    data = stream("dcache-billing", n, seed=seed)
    return data, [e.id for e in decode(data, "dcache-billing").events]


def config_for(tmp_path: Path, bootstrap: str | None, path: Path, topic: str, extra: str = "") -> Path:
    return write_config(tmp_path / "run.toml", bootstrap=bootstrap, routes=[{"name": "all", "topic": topic}],
                        sources=[{"type": "file", "format": "dcache-billing", "paths": [str(path)]}], extra=extra)


def delivered(consume: Any, topic: str, expected: int) -> Counter[str | None]:
    return Counter(header(m, "ce_id") for m in consume(topic, expected=expected))


def checkpoint(cp: FileCheckpoints, path: Path) -> None:
    """Checkpoint ``path`` at its end, as a finished run does."""
    with open(path, "rb") as f:
        cp.commit(path, os.fstat(f.fileno()), os.fstat(f.fileno()).st_size, read_head(f))


def resume_offset(cp: FileCheckpoints, path: Path) -> int:
    with open(path, "rb") as f:
        return cp.load(path, os.fstat(f.fileno()), read_head(f))


# -- identity: copytruncate, replacement ----------------------------------------------------------

def test_truncated_in_place_and_refilled_longer_reads_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(billing(1000, seed=1)[0])
    log = io.StringIO()
    cp = FileCheckpoints(tmp_path / "state", log=log)
    checkpoint(cp, path)
    ino, old_size = path.stat().st_ino, path.stat().st_size
    assert resume_offset(cp, path) == old_size
    new = billing(1500, seed=2)[0]
    with open(path, "r+b") as f:  # copytruncate: same inode, emptied, then written again
        f.truncate(0)
        f.write(new)
    assert path.stat().st_ino == ino and path.stat().st_size > old_size
    assert resume_offset(cp, path) == 0
    assert "truncated and refilled or replaced" in log.getvalue()


def test_grown_file_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    data = billing(200, seed=1)[0]
    path.write_bytes(data)
    cp = FileCheckpoints(tmp_path / "state")
    checkpoint(cp, path)
    with open(path, "ab") as f:  # an appended log: same file, more records
        f.write(billing(50, seed=3)[0])
    assert resume_offset(cp, path) == len(data)


def test_copytruncate_and_replacement_deliver_every_new_record(broker: Any, new_topic: Any, consume: Any,
                                                               fastev_run: Any, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    first, first_ids = billing(1000, seed=1)
    path.write_bytes(first)
    topic = new_topic()
    config = config_for(tmp_path, broker.bootstrap, path, topic)
    code, _, err = finish(fastev_run(config))
    assert code == 0, err

    refill, refill_ids = billing(1500, seed=2)
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(refill)
    code, _, err = finish(fastev_run(config))
    assert code == 0, err
    assert "truncated and refilled or replaced" in err and "Traceback" not in err
    got = delivered(consume, topic, len(first_ids) + len(refill_ids))
    assert set(refill_ids) <= set(got), f"{len(set(refill_ids) - set(got))} of {len(refill_ids)} skipped"

    replacement, replacement_ids = billing(1800, seed=3)
    tmp = tmp_path / "in.jsonl.new"
    tmp.write_bytes(replacement)
    os.replace(tmp, path)  # logrotate's create mode: a new file under the old name (the inode may be reused)
    code, _, err = finish(fastev_run(config))
    assert code == 0, err
    got = delivered(consume, topic, len(first_ids) + len(refill_ids) + len(replacement_ids))
    assert set(replacement_ids) <= set(got)


# -- wrong-shape state files: ignored with a warning, the file is read from the start ------------

WRONG_SHAPES = ["null", "[]", '"x"', "-5", "{}", '{"offset": "abc"}',
                '{"path": "P", "dev": 1, "ino": 1, "offset": -5, "size": 10}',
                '{"path": "P", "dev": 1, "ino": 1, "offset": true, "size": 10}',
                '{"path": "P", "dev": 1, "ino": 1, "offset": 20, "size": 10}',
                '{"path": "P", "dev": 1, "ino": 1, "offset": 5, "size": 10, "head_bytes": 5, "head_sha256": 7}',
                "{not json", "\udcff"]


@pytest.mark.parametrize("text", WRONG_SHAPES)
def test_a_state_file_of_the_wrong_shape_is_ignored_with_a_warning(tmp_path: Path, text: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(billing(20, seed=1)[0])
    log = io.StringIO()
    cp = FileCheckpoints(tmp_path / "state", log=log)
    checkpoint(cp, path)
    state = next(cp.dir.glob("*.json"))
    state.write_bytes(text.replace("P", str(path)).encode("utf-8", "surrogateescape"))
    assert resume_offset(cp, path) == 0
    assert f"ignoring the checkpoint of {path}" in log.getvalue()
    assert cp.offset(path) is None


def test_run_with_a_null_state_file_warns_and_delivers_everything(broker: Any, new_topic: Any, consume: Any,
                                                                  fastev_run: Any, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    data, ids = billing(300, seed=4)
    path.write_bytes(data)
    topic = new_topic()
    config = config_for(tmp_path, broker.bootstrap, path, topic)
    cp = FileCheckpoints(load_config(config).state_dir)
    checkpoint(cp, path)
    next(cp.dir.glob("*.json")).write_text("null")
    code, _, err = finish(fastev_run(config))
    assert code == 0, err
    assert "Traceback" not in err and "ignoring the checkpoint" in err
    assert set(delivered(consume, topic, len(ids))) == set(ids)
    assert cp.offset(path) == len(data)


# -- a full state disk ------------------------------------------------------------------------

@pytest.fixture()
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs (needs root, as in the project's container and CI)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"this test needs a small real filesystem (mount -t tmpfs, as root): {r.stderr.strip()}",
                    pytrace=False)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(fs: Path) -> None:
    fd = os.open(fs / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_full_state_disk_stops_the_run_with_one_line_and_loses_nothing(
        broker: Any, new_topic: Any, consume: Any, fastev_run: Any, small_fs: Path, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    data, ids = billing(300, seed=5)
    path.write_bytes(data)
    topic = new_topic()
    config = config_for(tmp_path, broker.bootstrap, path, topic, extra=f'[state]\ndir = "{small_fs}"\n')
    code, _, err = finish(fastev_run(config))
    assert code == 0, err
    cp = FileCheckpoints(small_fs)
    assert cp.offset(path) == len(data)
    before = {p.name: p.read_bytes() for p in cp.dir.iterdir()}

    more, more_ids = billing(200, seed=6)
    with open(path, "ab") as f:
        f.write(more)
    fill(small_fs)
    code, _, err = finish(fastev_run(config))
    assert code == 1, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "checkpoint" in lines[0], err
    # The old checkpoint is intact and nothing stray is left behind.
    assert {p.name: p.read_bytes() for p in cp.dir.iterdir()} == before

    (small_fs / "filler").unlink()
    code, _, err = finish(fastev_run(config))
    assert code == 0, err
    assert f"resuming at byte {len(data)}" in err
    assert set(more_ids) <= set(delivered(consume, topic, len(ids) + 2 * len(more_ids)))
    assert cp.offset(path) == len(data) + len(more)


# -- the embedded broker ---------------------------------------------------------------------

def test_positions_acknowledged_by_the_embedded_broker_are_not_saved(broker: Any, new_topic: Any, consume: Any,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    data, ids = billing(300, seed=7)
    path.write_bytes(data)
    topic = new_topic(create=False)
    config = config_for(tmp_path, None, path, topic)
    embedded = subprocess.run([*run_command(), "--config", str(config), "--no-progress"], env=ENV,
                              capture_output=True, text=True, timeout=120)
    assert embedded.returncode == 0, embedded.stderr
    assert f"delivered {len(ids)} events" in embedded.stdout
    assert "temporary broker" in embedded.stdout
    assert FileCheckpoints(load_config(config).state_dir).offset(path) is None

    broker.create_topics([topic], 1)
    config_for(tmp_path, broker.bootstrap, path, topic)  # the same config, now naming a real broker
    real = subprocess.run([*run_command(), "--config", str(config), "--no-progress"], env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert real.returncode == 0, real.stderr
    assert "resuming" not in real.stderr and "temporary broker" not in real.stdout
    assert set(delivered(consume, topic, len(ids))) == set(ids)


def test_temporaries_of_a_killed_writer_are_removed_at_the_next_load(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(billing(20, seed=1)[0])
    cp = FileCheckpoints(tmp_path / "state")
    checkpoint(cp, path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = cp.dir / f"{'0' * 24}.tmp{dead.pid}"
    stale.write_text("{")
    live = cp.dir / f"{'1' * 24}.tmp1"  # pid 1 runs: maybe another run writing now
    live.write_text("{")
    assert resume_offset(FileCheckpoints(tmp_path / "state"), path) == path.stat().st_size
    assert not stale.exists() and live.exists()
