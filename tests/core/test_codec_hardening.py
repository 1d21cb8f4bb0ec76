"""Native codec hardening (issue 9 A1, A2, A7, A8, D1, D2): batches a caller holds stay intact,
import checks survive ``python -O``, and the adversarial inputs decode identically in both cores."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fastev._ref import decoder as ref
from fastev._ref import transcoder as ref_tc
from fastev.options import MAX_GROUPS

from ._support import NOW_US, make_routes, native_codec, run_decoder, run_records, run_transcoder

codec = native_codec()
CORE = Path(__file__).resolve().parents[2] / "src" / "fastev" / "_core"


def _s3_item(key: str, time: str = "2026-02-11T09:14:05Z") -> dict[str, object]:
    return {"eventName": "ObjectCreated:Put", "eventTime": time,
            "s3": {"bucket": {"name": "pnfs"}, "object": {"key": key, "size": 3}}}


def _billing(**changes: object) -> bytes:
    rec = {"msgType": "transfer", "date": "2026-02-11T09:14:05Z", "isWrite": "write",
           "transferPath": "/pnfs/lab.example/photon/a", "fileSize": 10}
    rec.update(changes)
    return json.dumps(rec).encode()


ADVERSARIAL = {
    "s3 rejected items": ("s3", b'{"Records":[' + b",".join([b"1", b"{}", b'"x"'] * 200) + b"]}"),
    "s3 mixed": ("s3", json.dumps({"Records": [_s3_item(f"k{i}") if i % 4 else {"eventName": 1}
                                               for i in range(440)]}).encode()),
    "s3 many records": ("s3", json.dumps({"Records": [_s3_item(f"k{i}") for i in range(2000)]}).encode()),
    "groups at the cap": ("dcache-billing", _billing(subject=[f"GroupNamePrincipal[g{i % MAX_GROUPS}]"
                                                              for i in range(3 * MAX_GROUPS)])),
    "groups over the cap": ("dcache-billing", _billing(subject=[f"FQANPrincipal[/g{i}]" for i in range(2000)]
                                                       + [5])),
    "year 0 in UTC": ("dcache-billing", _billing(date="0000-01-01T00:00:00+23:59")),
    "year 10000 in UTC": ("s3", json.dumps({"Records": [_s3_item("k", "9999-12-31T23:59:59.999999-23:59")]
                                            }).encode()),
    "gpfs year 0": ("gpfs-audit", json.dumps({"LWE_JSON": "0.0.1", "path": "/gpfs/a", "event": "CREATE",
                                              "eventTime": "0000-01-01_00:00:00.000+0100"}).encode()),
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
@pytest.mark.parametrize("auto", [False, True])
def test_adversarial_records_decode_identically(name: str, auto: bool) -> None:
    source, raw = ADVERSARIAL[name]
    src = "auto" if auto else source
    opts = {"now_us": NOW_US, "max_record_bytes": 4 << 20}
    data = raw + b"\n" + raw + b"\n"
    got = run_decoder(codec, src, [data], **opts)
    assert got == run_decoder(ref, src, [data], **opts)
    assert run_records(codec, src, [raw, raw], **opts) == run_records(ref, src, [raw, raw], **opts)
    assert run_transcoder(codec.Transcoder, src, make_routes(), [data], **opts) == \
        run_transcoder(ref_tc.Transcoder, src, make_routes("reference"), [data], **opts)


def test_errors_of_one_s3_message_share_one_raw_natively() -> None:
    _, raw = ADVERSARIAL["s3 rejected items"]
    errors = codec.Decoder("s3").feed_records([raw]).errors
    assert len(errors) == 101 and errors[-1].reason == "too-many-errors"
    assert len({id(e.raw) for e in errors}) == 1


# -- A7: a batch handed to the caller is never written again ---------------------------------------

def _lines(prefix: str, n: int) -> bytes:
    return b"".join(_billing(transferPath=f"/pnfs/{prefix}/{i}") + b"\n" for i in range(n))


def _snapshot(rb: object) -> object:
    return [(r, rb.count(r), rb.payloads(r), rb.ids(r), rb.paths(r), rb.block(r))  # type: ignore[attr-defined]
            for r in rb.routes]  # type: ignore[attr-defined]


def test_a_held_batch_survives_later_feeds() -> None:
    t = codec.Transcoder("dcache-billing", make_routes())
    first = t.feed(_lines("a", 5))
    before = _snapshot(first)
    assert first.count("all") == 5
    second = t.feed(_lines("b", 7))
    third = t.feed(_lines("c", 3))
    assert second is not first and third is not first and third is not second
    assert _snapshot(first) == before
    assert first.paths("all") == [f"/pnfs/a/{i}" for i in range(5)]
    assert second.paths("all") == [f"/pnfs/b/{i}" for i in range(7)]


def test_released_batches_lend_their_buffers_without_mixing_content() -> None:
    t = codec.Transcoder("dcache-billing", make_routes())
    for round_ in range(6):
        held = t.feed(_lines(f"r{round_}", 4))
        assert held.paths("all") == [f"/pnfs/r{round_}/{i}" for i in range(4)]
        del held   # its buffers go back to the pool; the next feed writes a new batch object
    kept = [t.feed(_lines(f"k{i}", 2)) for i in range(5)]   # more held batches than pooled buffers
    assert [b.paths("all") for b in kept] == [[f"/pnfs/k{i}/0", f"/pnfs/k{i}/1"] for i in range(5)]


# -- A8: consistency checks raise, and no assert is compiled away ------------------------------------

def test_import_checks_raise_instead_of_assert() -> None:
    sources = [CORE / "codec.pyx", *sorted(CORE.glob("codec_*.pxi")), CORE / "json_scan.pxi"]
    for path in sources:
        asserts = [n for n, line in enumerate(path.read_text().splitlines(), 1) if re.match(r"\s*assert\b", line)]
        assert not asserts, f"{path.name}: assert at lines {asserts} vanishes under python -O"
    with pytest.raises(ImportError, match="rebuild the extension"):
        codec._require(False, "a table")


def _tree_names(tree: dict[str, object], prefix: str = "") -> set[str]:
    out = set()
    for k, sub in tree.items():
        name = f"{prefix}.{k}" if prefix else k
        out.add(name)
        if isinstance(sub, dict):
            out |= _tree_names(sub, name)
    return out


def test_slot_tables_name_the_fields_the_reference_reads() -> None:
    """The native key tables against the reference's read trees (checked here, not at import)."""
    from fastev._ref import billing, gpfs, inotify_sse, s3

    assert set(codec.BILLING_SLOTS) == _tree_names(billing.READ_FIELDS)
    i = codec.BILLING_SLOTS.index("session")
    assert codec.BILLING_SLOTS[i:i + len(billing.ATTR_KEYS)] == billing.ATTR_KEYS
    assert (codec.GPFS_AUDIT_ATTRS, codec.GPFS_WATCH_ATTRS) == (gpfs.AUDIT_ATTRS, gpfs.WATCH_ATTRS)
    assert set(codec.AUDIT_SLOTS) == _tree_names(gpfs.AUDIT_READ)
    assert set(codec.WATCH_SLOTS) == _tree_names(gpfs.WATCH_READ)
    assert set(codec.S3_REC_SLOTS) == _tree_names(s3.RECORD_READ)
    assert set(codec.S3_MSG_SLOTS) == _tree_names(s3.MESSAGE_READ)
    assert set(codec.INOTIFY_SLOTS) == _tree_names(inotify_sse.DATA_READ)
    assert set(codec.SYSTEM_SLOTS) == _tree_names(inotify_sse.SYSTEM_READ)
