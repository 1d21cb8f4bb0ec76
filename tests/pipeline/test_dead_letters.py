"""One dead letter per rejected raw message, carrying every reason (not one per error)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastev import decode
from fastev.errors import DecodeError
from fastev.pipeline.deadletters import MAX_LISTED_ERRORS, group_by_message

from .conftest import finish, header, write_config


def test_errors_group_by_their_raw_message() -> None:
    a = [DecodeError("not-an-object", f"Records[{i}]", index=0, offset=0, line=1, raw=b"m0") for i in range(3)]
    b = DecodeError("invalid-json", index=1, offset=20, line=2, raw=b"m1")
    c = DecodeError("missing-field", "eventName", index=2, offset=30, line=3, raw=b"m2")
    assert group_by_message([a[0], a[1], b, a[2], c]) == [a, [b], [c]]


def test_a_message_with_many_bad_items_is_one_dead_letter(broker: Any, new_topic: Any, consume: Any,
                                                          fastev_run: Any, tmp_path: Path) -> None:
    many = b'{"Records":[' + b",".join([b"1"] * 150) + b"]}"
    bad_json = b'{"Records": ['
    data = many + b"\n" + bad_json + b"\n"
    path = tmp_path / "s3.jsonl"
    path.write_bytes(data)
    errors = decode(data, "s3").errors
    per_message = sum(1 for e in errors if e.index == 0)
    assert per_message > 1
    out, dead = new_topic(), new_topic()
    config = write_config(tmp_path / "run.toml", bootstrap=broker.bootstrap, dead_letter=dead,
                          routes=[{"name": "all", "topic": out}],
                          sources=[{"type": "file", "format": "s3", "paths": [str(path)]}])
    code, text, err = finish(fastev_run(config, "--summary-json", str(tmp_path / "summary.json")))
    assert code == 0, err
    letters = consume(dead, expected=2)
    assert [m.value() for m in letters] == [many, bad_json]
    first, second = letters
    assert per_message == MAX_LISTED_ERRORS + 1  # 100 one by one, the other 50 in one too-many-errors
    assert header(first, "fastev_error_count") == "150"  # every rejected item, the summarised ones included
    listed = json.loads(header(first, "fastev_errors") or "")
    assert len(listed) == min(per_message, MAX_LISTED_ERRORS)
    assert listed[:2] == [{"reason": "not-an-object", "field": "Records[0]"},
                          {"reason": "not-an-object", "field": "Records[1]"}]
    assert (header(first, "fastev_reason"), header(first, "fastev_field")) == ("not-an-object", "Records[0]")
    assert header(second, "fastev_error_count") == "1"
    assert int(header(second, "fastev_offset") or -1) == len(many) + 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["dead_letters"] == 2
