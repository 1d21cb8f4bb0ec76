"""docs/formats.md §4: bad records are rejected with a structured error; the good ones around them survive."""
from __future__ import annotations

import json

import pytest

from fastev import DecodeError, decode
from fastev.decoding import Decoder

GOOD = {"msgType": "transfer", "date": "2026-02-11T09:14:05Z", "isWrite": "write",
        "transferPath": "/pnfs/x/data/a.root", "fileSize": 10, "cellName": "pool1", "cellDomain": "d1"}


def line(**changes: object) -> bytes:
    rec = dict(GOOD)
    for k, v in changes.items():
        if v is ...:
            rec.pop(k)
        else:
            rec[k] = v
    return json.dumps(rec).encode()


def sandwich(bad: bytes, **options: object) -> tuple[list, list[DecodeError]]:
    """A bad record between two good ones: both good ones must come out."""
    data = line(transferPath="/before") + b"\n" + bad + b"\n" + line(transferPath="/after") + b"\n"
    res = decode(data, "dcache-billing", **options)
    assert [e.path for e in res.events] == ["/before", "/after"], res.errors
    assert len(res.errors) == 1
    err = res.errors[0]
    assert isinstance(err, ValueError)  # DecodeError is a ValueError too
    assert (err.index, err.line, err.source) == (1, 2, "dcache-billing")
    assert err.offset == len(line(transferPath="/before")) + 1
    assert err.raw == bad[: options.get("max_record_bytes", len(bad))]  # type: ignore[call-overload]
    return res.events, res.errors


CASES = [
    # (name, raw record, reason, field)
    ("truncated json", line()[:-7], "invalid-json", None),
    ("invalid utf-8", line(transferPath="/x/@").replace(b"@", b"\xff"), "invalid-utf8", None),
    ("utf-8 surrogate", line(transferPath="/x/@").replace(b"@", b"\xed\xa0\x80"), "invalid-utf8", None),
    ("overlong utf-8", line(transferPath="/x/@").replace(b"@", b"\xc0\xaf"), "invalid-utf8", None),
    ("lone surrogate escape", line()[:-1] + b', "note": "\\ud800"}', "invalid-json", None),
    ("NaN", line()[:-1] + b', "x": NaN}', "invalid-json", None),
    ("raw control char", line()[:-1] + b', "x": "a\x01b"}', "invalid-json", None),
    ("trailing garbage", line() + b" x", "invalid-json", None),
    ("duplicate read field", line()[:-1] + b', "fileSize": 99}', "duplicate-key", "fileSize"),
    ("duplicate nested field", line(status={"code": 0})[:-1].replace(b'{"code": 0}', b'{"code": 0, "code": 1}')
     + b"}", "duplicate-key", "status.code"),
    ("missing msgType", line(msgType=...), "missing-field", "msgType"),
    ("missing date", line(date=...), "missing-field", "date"),
    ("bad date", line(date="2026-02-30T00:00:00Z"), "bad-time", "date"),
    ("date without offset", line(date="2026-02-11T09:14:05"), "bad-time", "date"),
    ("mistyped size", line(fileSize="10"), "wrong-type", "fileSize"),
    ("float size", line(fileSize=10.5), "wrong-type", "fileSize"),
    ("negative size", line(fileSize=-1), "out-of-range", "fileSize"),
    ("overflowing size", line(fileSize=2**63), "out-of-range", "fileSize"),
    ("mistyped isWrite", line(isWrite=True), "wrong-type", "isWrite"),
    ("mistyped status", line(status=[0]), "wrong-type", "status"),
    ("status code over int32", line(status={"code": 2**31}), "out-of-range", "status.code"),
    ("dotdot path", line(transferPath="/pnfs/x/../etc/passwd"), "non-canonical-path", "transferPath"),
    ("dot path", line(transferPath="/pnfs/./x"), "non-canonical-path", "transferPath"),
    ("relative path", line(transferPath="pnfs/x"), "non-canonical-path", "transferPath"),
    ("NUL in path", line(transferPath="/pnfs/x\u0000y"), "non-canonical-path", "transferPath"),
    ("deep nesting", line()[:-1] + b', "x": ' + b"[" * 100 + b"]" * 100 + b"}", "too-deep", None),
    ("array", b"[1, 2, 3]", "not-an-object", None),
    ("string", b'"transfer"', "not-an-object", None),
    ("null", b"null", "not-an-object", None),
    ("bad subject", line(subject=["UidPrincipal[abc]"]), "wrong-type", "subject"),
    ("subject not a list", line(subject="UserNamePrincipal[x]"), "wrong-type", "subject"),
]


@pytest.mark.parametrize(("name", "raw", "reason", "field"), CASES, ids=[c[0] for c in CASES])
def test_rejected_with_structured_error(name: str, raw: bytes, reason: str, field: str | None) -> None:
    _, errors = sandwich(raw)
    assert (errors[0].reason, errors[0].field) == (reason, field)
    assert errors[0].to_dict()["reason"] == reason


def test_record_over_size_limit() -> None:
    big = line(session="x" * 5000)
    _, errors = sandwich(big, max_record_bytes=1000)
    assert errors[0].reason == "too-large"


def test_size_limit_is_bounded_while_streaming() -> None:
    """An endless line is reported once and dropped, never buffered whole."""
    dec = Decoder("dcache-billing", max_record_bytes=1000)
    out = dec.feed(line(transferPath="/before") + b"\n" + b'{"a": "' + b"x" * 5000)
    for _ in range(50):
        out2 = dec.feed(b"y" * 10000)
        assert out2.errors == [] and out2.events == []
    tail = dec.feed(b'"}\n' + line(transferPath="/after") + b"\n")
    fin = dec.finish()
    assert [e["path"] for e in out.events + tail.events + fin.events] == ["/before", "/after"]
    errors = out.errors + tail.errors
    assert [(e.reason, e.index, e.line) for e in errors] == [("too-large", 1, 2)]
    assert len(errors[0].raw) == 1000


def test_path_with_newline_and_cr_is_preserved() -> None:
    path = "/pnfs/x/evil\nname\r\ndata: x"
    res = decode(line(transferPath=path) + b"\n", "dcache-billing")
    assert res.errors == [] and res.events[0].path == path
    assert b"\n" not in res.events[0].to_json()  # JSON output escapes them


def test_duplicates_of_unread_fields_are_tolerated() -> None:
    rec = line()[:-1] + b', "unrelated": 1, "unrelated": 2}'
    res = decode(rec, "dcache-billing")
    assert res.errors == [] and len(res.events) == 1


def test_syntax_error_wins_over_earlier_duplicate() -> None:
    rec = line()[:-1] + b', "fileSize": 1, "x": }'
    res = decode(rec, "dcache-billing")
    assert [(e.reason, e.field) for e in res.errors] == [("invalid-json", None)]


def test_first_problem_in_text_order_decides() -> None:
    deep_then_broken = b'{"x": ' + b"[" * 70 + b"}"
    broken_then_deep = b'{"x": tru, "y": ' + b"[" * 70 + b"]" * 70 + b"}"
    res = decode(deep_then_broken + b"\n" + broken_then_deep + b"\n", "dcache-billing")
    assert [e.reason for e in res.errors] == ["too-deep", "invalid-json"]


def test_blank_lines_and_crlf() -> None:
    data = b"\r\n  \n" + line() + b"\r\n\n" + line(transferPath="/b") + b"\r\n"
    res = decode(data, "dcache-billing")
    assert res.errors == [] and [e.path for e in res.events] == ["/pnfs/x/data/a.root", "/b"]
    assert res.stats.records == 2


@pytest.mark.parametrize("source", ["dcache-billing", "gpfs-audit", "gpfs-watch", "s3", "auto"])
def test_garbage_never_crashes(source: str) -> None:
    junk = b"\x00\xff{\"\n}}}]]\n\xc0\xaf\n{\"Records\": [1, {}]}\n{}\n" + bytes(range(256)) + b"\n"
    res = decode(junk, source)
    assert res.events == []
    assert res.errors and all(isinstance(e, DecodeError) for e in res.errors)


def test_unknown_format_in_auto() -> None:
    res = decode(b'{"hello": "world"}\n', "auto")
    assert [(e.reason, e.source) for e in res.errors] == [("unknown-format", "auto")]


def test_oversize_blank_line_is_too_large_however_it_is_chunked() -> None:
    data = line(transferPath="/a") + b"\n" + b" " * 3000 + b"\n" + line(transferPath="/b") + b"\n"
    for split in (None, len(line()) + 10, len(line()) + 2000):
        dec = Decoder("dcache-billing", max_record_bytes=1000)
        parts = [dec.feed(data)] if split is None else [dec.feed(data[:split]), dec.feed(data[split:])]
        parts.append(dec.finish())
        assert [e["path"] for p in parts for e in p.events] == ["/a", "/b"]
        assert [(e.reason, e.index) for p in parts for e in p.errors] == [("too-large", 1)]
