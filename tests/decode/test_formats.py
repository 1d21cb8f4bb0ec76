"""Records the samples do not show, decoded per docs/formats.md (the format, not the samples)."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fastev import decode
from fastev.decoding import Decoder


def us(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp() * 1_000_000)


def billing(**fields: object) -> bytes:
    rec: dict[str, object] = {"msgType": "transfer", "date": "2026-01-01T00:00:00Z", "transferPath": "/d/f"}
    rec.update(fields)
    return json.dumps(rec).encode() + b"\n"


@pytest.mark.parametrize(("date", "iso"), [
    ("2026-02-11T09:14:05+01:00", "2026-02-11T09:14:05+01:00"),
    ("2026-02-11T09:14:05.1Z", "2026-02-11T09:14:05.100+00:00"),
    ("2026-02-11T09:14:05.123456789-05:30", "2026-02-11T09:14:05.123456-05:30"),  # truncated, not rounded
    ("2024-02-29T23:59:59.999999999+14:00", "2024-02-29T23:59:59.999999+14:00"),
    ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500+00:00"),
])
def test_billing_dates(date: str, iso: str) -> None:
    [ev] = decode(billing(date=date), "dcache-billing").events
    assert ev.time_us == us(iso)


@pytest.mark.parametrize(("fields", "kind"), [
    ({"isP2p": True, "isWrite": "write"}, "REPLICATE"),
    ({"isWrite": "read"}, "DOWNLOAD"),
    ({"isWrite": "write"}, "UPLOAD"),
    ({"msgType": "remove", "cellType": "door"}, "DELETE"),
    ({"msgType": "remove", "cellType": "pool"}, "EVICT"),
    ({"msgType": "store"}, "FLUSH"),
    ({"msgType": "restore"}, "STAGE"),
    ({"msgType": "request"}, "REQUEST"),
    ({"msgType": "check"}, "OTHER"),
    ({"msgType": "somethingNew"}, "OTHER"),
])
def test_billing_kinds(fields: dict[str, object], kind: str) -> None:
    [ev] = decode(billing(**fields), "dcache-billing").events
    assert ev.kind == kind


def test_billing_identity_fallbacks_and_exponent_numbers() -> None:
    rec = billing(subject=["/DC=org/CN=Some One", "GidPrincipal[7]", "GidPrincipal[8,primary]",
                           "OpenIdGroup[/dune]", "GroupNamePrincipal[dune,primary]", "OpenIdGroup[/dune]",
                           "Origin[192.0.2.1]"],
                  mappedUID=501, owner="fallback", meanReadBandwidth=3.97E9, transferPath="Unknown",
                  billingPath="//pnfs//x/y/", fileSize=2**62)
    [ev] = decode(rec.replace(b"3970000000.0", b"3.97E9"), "dcache-billing").events
    assert ev.user == "/DC=org/CN=Some One"  # no UserNamePrincipal: the DN
    assert (ev.uid, ev.gid) == (501, 8)  # mappedUID; the primary gid
    assert ev.groups == ["/dune", "dune"]
    assert ev.client == "192.0.2.1"  # the Origin principal
    assert ev.path == "/pnfs/x/y"  # billingPath when transferPath is Unknown; canonicalised
    assert ev.size == 2**62
    assert ev.attrs["meanReadBandwidth"] == "3.97E9"


def test_billing_door_request_with_embedded_mover_is_one_event() -> None:
    rec = billing(msgType="request", cellType="door", moverInfo={"msgType": "transfer", "transferPath": "/d/f"})
    res = decode(rec, "dcache-billing")
    assert [e.kind for e in res.events] == ["REQUEST"]


def gpfs_watch(event: str, path: str, cookie: str = "0", mask: str = "0x0") -> bytes:
    return json.dumps({"WF_JSON": "0.0.1", "event": event, "path": path, "cookie": cookie, "mask": mask,
                       "eventTime": "2026-02-11_10:00:00.000+0100", "inode": "1"}).encode() + b"\n"


def test_move_pairing_and_unpaired_moves() -> None:
    data = (gpfs_watch("IN_MOVED_TO", "/g/in_only", "11")          # TO without FROM
            + gpfs_watch("IN_MOVED_FROM", "/g/a", "12")
            + gpfs_watch("IN_CREATE", "/g/c")
            + gpfs_watch("IN_MOVED_TO", "/g/b", "12")              # pairs with 12
            + gpfs_watch("IN_MOVED_FROM", "/g/gone", "13"))        # never paired: MOVED_OUT at the end
    res = decode(data, "gpfs-watch")
    assert [(e.kind, e.path, e.old_path) for e in res.events] == [
        ("MOVED_IN", "/g/in_only", None), ("CREATE", "/g/c", None), ("RENAME", "/g/b", "/g/a"),
        ("MOVED_OUT", "/g/gone", None)]


def test_pairing_window_expires() -> None:
    dec = Decoder("gpfs-watch", pairing_window=2)
    out = dec.feed(gpfs_watch("IN_MOVED_FROM", "/g/a", "5") + gpfs_watch("IN_CREATE", "/g/1")
                   + gpfs_watch("IN_CREATE", "/g/2") + gpfs_watch("IN_CREATE", "/g/3")
                   + gpfs_watch("IN_MOVED_TO", "/g/b", "5"))
    events = out.events + dec.finish().events
    assert [(e["kind"], e["path"]) for e in events] == [
        ("CREATE", "/g/1"), ("CREATE", "/g/2"), ("MOVED_OUT", "/g/a"), ("CREATE", "/g/3"), ("MOVED_IN", "/g/b")]


def test_gpfs_watch_skips_and_loss() -> None:
    data = (gpfs_watch("IN_IGNORED", "/g") + gpfs_watch("IN_UNMOUNT", "/g") + gpfs_watch("IN_Q_OVERFLOW", "")
            + gpfs_watch("IN_DELETE_SELF", "/g/w") + gpfs_watch("IN_MOVE_SELF", "/g/w2"))
    res = decode(data, "gpfs-watch")
    assert [e.kind for e in res.events] == ["DELETE", "MOVED_OUT"]
    assert (res.stats.skipped, res.stats.loss) == (2, 1)


def test_gpfs_time_zones_and_text_numbers() -> None:
    rec = {"LWE_JSON": "0.0.5", "event": "CLOSE", "path": "/g/f", "eventTime": "2025-07-28_16:53:11.869+0100",
           "fileSize": "5000000000", "bytesWritten": "0", "bytesRead": "77", "clientUserId": "12",
           "clientGroupId": "", "clusterName": "c", "fsName": "fs", "inode": 42}
    [ev] = decode(json.dumps(rec).encode(), "gpfs-audit").events
    assert ev.time_us == us("2025-07-28T16:53:11.869+01:00")
    assert (ev.size, ev.bytes, ev.uid, ev.gid, ev.file_id) == (5000000000, 77, 12, None, "42")
    bad = dict(rec, fileSize="12abc")
    assert [(e.reason, e.field) for e in decode(json.dumps(bad).encode(), "gpfs-audit").errors] == [
        ("wrong-type", "fileSize")]
    neg = dict(rec, clientUserId="-3")
    assert [(e.reason, e.field) for e in decode(json.dumps(neg).encode(), "gpfs-audit").errors] == [
        ("out-of-range", "clientUserId")]


def s3_message(*records: dict[str, object]) -> bytes:
    return json.dumps({"Records": list(records)}).encode() + b"\n"


def s3_record(name: str = "s3:ObjectCreated:Put", key: str = "a/b.txt", **obj: object) -> dict[str, object]:
    return {"eventName": name, "eventTime": "2026-02-11T09:30:00Z", "eventSource": "ceph:s3",
            "s3": {"bucket": {"name": "bkt"}, "object": {"key": key, **obj}}}


@pytest.mark.parametrize(("name", "kind"), [
    ("s3:ObjectCreated:Put", "UPLOAD"), ("ObjectCreated:Copy", "UPLOAD"), ("ObjectRemoved:DeleteMarkerCreated",
    "DELETE"), ("s3:ObjectRestore:Completed", "STAGE"), ("ObjectRestore:Post", "OTHER"),
    ("s3:ObjectAccessed:Get", "DOWNLOAD"), ("s3:Replication:OperationFailedReplication", "OTHER")])
def test_s3_kinds(name: str, kind: str) -> None:
    [ev] = decode(s3_message(s3_record(name)), "s3").events
    assert ev.kind == kind and ev.raw_type == name.removeprefix("s3:")


def test_s3_keys_are_form_decoded_and_checked() -> None:
    res = decode(s3_message(s3_record(key="red+flower%2B%C3%A9.jpg"), s3_record(key="x/%2E%2E/etc"),
                            s3_record(key="%ZZ"), s3_record(key="ok", eTag="e1", versionId="")), "s3")
    assert [e.path for e in res.events] == ["/bkt/red flower+é.jpg", "/bkt/ok"]
    assert res.events[1].file_id == "e1"
    assert [(e.reason, e.field, e.index) for e in res.errors] == [
        ("non-canonical-path", "Records[1].s3.object.key", 0), ("non-canonical-path", "Records[2].s3.object.key", 0)]
    ids = [e.id for e in res.events]
    assert len(set(ids)) == 2  # the record index inside the message is part of the id


def test_s3_test_event_and_bad_records() -> None:
    data = (b'{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"bkt"}\n'
            + s3_message(s3_record(), 5, s3_record(size=-1), s3_record(size="12")))
    res = decode(data, "s3")
    assert res.stats.skipped == 1
    assert [e.size for e in res.events] == [None, 12]
    assert [(e.reason, e.field) for e in res.errors] == [("not-an-object", "Records[1]"),
                                                        ("out-of-range", "Records[2].s3.object.size")]


def sse(*frames: str) -> bytes:
    return "".join(frames).encode()


def inotify_frame(i: int, name: str | None, mask: list[str], sub: str = "S1", cookie: str | None = None) -> str:
    ev: dict[str, object] = {"mask": mask}
    if name is not None:
        ev["name"] = name
    if cookie is not None:
        ev["cookie"] = cookie
    return f"event: inotify\nid: {i}\ndata: {json.dumps({'event': ev, 'subscription': 'https://h/x/' + sub})}\n\n"


def test_inotify_unknown_subscription_loss_and_keepalives() -> None:
    data = sse(": keepalive\n\n", "event: metronome\ndata: \n\n",
               inotify_frame(1, "a", ["IN_CREATE"], "UNKNOWN"),
               inotify_frame(2, "b", ["IN_Q_OVERFLOW"]),
               inotify_frame(3, "../x", ["IN_CREATE"]),
               inotify_frame(4, "c", ["IN_CLOSE_WRITE"]))
    res = decode(data, "dcache-inotify", inotify_watches={"S1": "/w"}, now_us=0)
    assert [e.path for e in res.events] == ["/w/c"]
    assert [(e.reason, e.field) for e in res.errors] == [("unknown-subscription", "subscription"),
                                                        ("non-canonical-path", "event.name")]
    assert res.stats.loss == 1


def test_inotify_crlf_and_chunked_feeding() -> None:
    data = sse(inotify_frame(1, "a", ["IN_CREATE"]), inotify_frame(2, "b", ["IN_MOVED_FROM"], cookie="k"),
               inotify_frame(3, "c", ["IN_MOVED_TO"], cookie="k")).replace(b"\n", b"\r\n")
    whole = decode(data, "dcache-inotify", inotify_watches={"S1": "/w"}, now_us=0)
    assert [(e.kind, e.path) for e in whole.events] == [("CREATE", "/w/a"), ("RENAME", "/w/c")]
    for split in range(1, len(data)):
        dec = Decoder("dcache-inotify", inotify_watches={"S1": "/w"}, now_us=0)
        parts = [dec.feed(data[:split]), dec.feed(data[split:]), dec.finish()]
        events = [e for p in parts for e in p.events]
        assert events == [e.to_dict() for e in whole.events], split


def test_jsonl_chunked_feeding_matches_whole() -> None:
    data = billing(transferPath="/a") + b"\r\n" + billing(transferPath="/b") + b"garbage\n" + billing()
    whole = decode(data, "dcache-billing")
    for split in range(0, len(data), 7):
        dec = Decoder("dcache-billing")
        parts = [dec.feed(data[:split]), dec.feed(data[split:]), dec.finish()]
        assert [e for p in parts for e in p.events] == [e.to_dict() for e in whole.events]
        assert [e for p in parts for e in p.errors] == whole.errors


def test_inotify_name_is_a_child_name_not_a_path() -> None:
    res = decode(sse(inotify_frame(1, "a/b", ["IN_CREATE"]), inotify_frame(2, "ok", ["IN_CREATE"])),
                 "dcache-inotify", inotify_watches={"S1": "/w"}, now_us=0)
    assert [e.path for e in res.events] == ["/w/ok"]
    assert [(e.reason, e.field) for e in res.errors] == [("non-canonical-path", "event.name")]
