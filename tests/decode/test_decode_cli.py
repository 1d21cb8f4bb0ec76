"""`fastev decode` on input that is not the format, bounded error output, option ranges (issue 9: C8, C11)."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from fastev.commands._io import binary_reason


def fastev(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "fastev", "decode", *args], input=stdin, capture_output=True,
                          timeout=120, check=False, env=dict(os.environ))


def test_binary_input_is_refused_once_with_exit_2() -> None:
    binary = Path(sys.executable).resolve()   # an executable, like /usr/bin/ls
    for source in ("dcache-billing", "dcache-inotify", "auto"):
        r = fastev("--source", source, str(binary))
        assert r.returncode == 2, r.stderr
        lines = r.stderr.decode().splitlines()
        assert lines == [f"fastev: error: {binary}: it contains NUL bytes, not text records (JSON lines or SSE)"]
        assert r.stdout == b""


def test_random_bytes_on_stdin_are_refused() -> None:
    data = random.Random(3).randbytes(300_000).replace(b"\0", b"\1")
    r = fastev("--source", "s3", stdin=data)
    assert r.returncode == 2
    assert r.stderr.decode().splitlines() == [
        "fastev: error: <stdin>: it is binary data (invalid UTF-8 or control characters), "
        "not text records (JSON lines or SSE)"]


def test_binary_reason_lets_text_with_a_few_bad_records_through() -> None:
    good = b'{"Records": []}\n' * 40
    assert binary_reason(good + b"\xff\xfe bad record\n" + good) is None
    assert binary_reason("caf\u00e9 ".encode() * 300) is None          # multi-byte cut at the 1 KiB edge
    assert binary_reason(b"\x7fELF\x02\x01\x01\x00") == "it contains NUL bytes"


def test_error_output_is_bounded_by_max_errors(tmp_path: Path) -> None:
    data = b"not json\n" * 500 + b'{"Records": []}\n'
    r = fastev("--source", "s3", "--max-errors", "7", stdin=data)
    assert r.returncode == 1
    lines = r.stderr.decode().splitlines()
    assert [json.loads(x)["index"] for x in lines[:7]] == list(range(7))
    assert len(lines) == 8   # 7 errors and the summary (one record is valid: no --source hint)
    assert lines[-1] == ("fastev decode: 0 decoded, 1 skipped, 500 rejected, 0 loss signals "
                         "(501 records, source s3; 493 more errors not listed (--max-errors 7))")
    errors = tmp_path / "e.jsonl"
    r = fastev("--source", "s3", "--errors", str(errors), stdin=data)   # default: 100
    assert len(errors.read_text().splitlines()) == 100
    assert b"400 more errors not listed (--max-errors 100)" in r.stderr


def test_all_records_rejected_gives_one_hint() -> None:
    r = fastev("--source", "gpfs-audit", stdin=b'{"Records": []}\n' * 150)
    hints = [x for x in r.stderr.decode().splitlines() if "is --source right?" in x]
    assert hints == ["fastev decode: <stdin>: none of its 150 records is valid gpfs-audit input; is --source right?"]


@pytest.mark.parametrize("flag,value,message", [
    ("--pairing-window", "0", "argument --pairing-window: 0 is outside 1..1048576"),
    ("--pairing-window", "-1", "argument --pairing-window: -1 is outside 1..1048576"),
    ("--pairing-window", "1048577", "argument --pairing-window: 1048577 is outside 1..1048576"),
    ("--max-record-bytes", "0", "argument --max-record-bytes: 0 is outside 1..1073741824"),
    ("--max-record-bytes", "1k", "argument --max-record-bytes: '1k' is not an integer"),
    ("--max-errors", "-1", "argument --max-errors: -1 is outside 0.."),
])
def test_option_ranges_name_the_flag(flag: str, value: str, message: str) -> None:
    r = fastev("--source", "s3", flag, value, stdin=b"")
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.splitlines() == [f"fastev decode: error: {message} (see fastev decode --help)"]
    assert "Traceback" not in err and "max_record_bytes" not in err and "pairing_window" not in err


def test_option_edges_are_accepted() -> None:
    r = fastev("--source", "gpfs-watch", "--pairing-window", "1", "--max-record-bytes", "1", "--max-errors", "0",
               stdin=b'{"x": 1}\n')
    assert r.returncode == 1   # the record is too large for 1 byte: rejected, not listed
    assert r.stderr.decode().splitlines()[-1].endswith("1 more errors not listed (--max-errors 0))")


def test_text_without_records_says_so() -> None:
    r = fastev("--source", "dcache-inotify", stdin=b"just some text\nnot an event stream\n")
    assert r.returncode == 0
    assert r.stderr.decode().splitlines()[0] == \
        "fastev decode: <stdin>: no dcache-inotify records found in it; is --source right?"
