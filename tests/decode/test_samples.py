"""The samples decode as docs/formats.md says. Expected values are written out by hand from the spec."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import fastev
from fastev import decode


def us(text: str) -> int:
    """Independent oracle for timestamps: datetime's own parser."""
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp() * 1_000_000)


def test_billing_kinds_paths_and_skips(samples: Path) -> None:
    res = decode((samples / "dcache-billing.jsonl").read_bytes(), "dcache-billing")
    assert res.errors == []
    assert [e.kind for e in res.events] == [
        "UPLOAD", "DOWNLOAD", "REPLICATE", "UPLOAD", "REQUEST", "DELETE", "EVICT", "FLUSH", "STAGE", "OTHER"]
    assert res.stats.skipped == 1  # the warning record
    assert [e.path for e in res.events][5:9] == [
        "/pnfs/lab.example/photon/tmp/junk.bin", "", "/pnfs/lab.example/photon/beamtime7/scan_0001.nxs", ""]


def test_billing_first_record_every_field(samples: Path) -> None:
    ev = decode((samples / "dcache-billing.jsonl").read_bytes(), "dcache-billing").events[0]
    d = ev.to_dict()
    assert len(d.pop("id")) == 32
    attrs = d.pop("attrs")
    assert d == {
        "source": "DCACHE_BILLING", "kind": "UPLOAD", "raw_type": "transfer",
        "time_us": us("2026-02-11T09:14:05.310+01:00"),
        "path": "/pnfs/lab.example/photon/beamtime7/scan_0001.nxs", "old_path": None, "is_dir": False,
        "size": 52428800, "bytes": 52428800, "duration_ms": 812, "status": 0, "status_msg": None,
        "file_id": "0000C1D2E3F405162738495A6B7C8D9EAFB0", "user": "carol", "uid": 2001, "gid": 2000,
        "groups": ["photon"], "client": "198.51.100.20", "protocol": "Https-1.1",
        "system": "pool-x12@pool-x12Domain", "storage_class": "photon:raw@osm",
    }
    # transferTag "" is absent (empty text counts as absent); number literals stay text
    assert attrs == {
        "version": "1.0", "cellType": "pool", "port": "40122",
        "session": "pool:pool-x12@pool-x12Domain:1770797645310-101",
        "initiator": "door:WebDAV-dav1@davDomain:AAZhR2x1Qs8:1770797644401000",
        "queuingTime": "3", "localEndpoint": "198.51.100.40:20080", "meanWriteBandwidth": "64561230.5",
    }


def test_billing_identity_rules(samples: Path) -> None:
    events = decode((samples / "dcache-billing.jsonl").read_bytes(), "dcache-billing").events
    cms = events[1]
    assert cms.user == "cmsuser"  # UserNamePrincipal beats the DN that comes first
    assert cms.groups == ["/cms/Role=NULL", "/cms"]
    assert (cms.uid, cms.gid, cms.client, cms.protocol) == (40100, 40000, "2001:db8:5::7", "Xrootd-5.0")
    assert cms.size == 7340032000  # over 2**32
    timed_out = events[3]
    assert (timed_out.status, timed_out.status_msg) == (10006, "Transfer timed out")
    door = events[4]
    assert door.attrs["version"] == "1.0"  # door records spell it VERSION
    assert (door.client, door.uid, door.gid) == ("198.51.100.20", 2001, 2000)
    remove = events[5]
    assert remove.user == "svc-photon" and remove.groups == ["/photon"]
    assert remove.system == "WebDAV-dav1@davDomain"
    evict = events[6]
    assert evict.path == "" and evict.status_msg == "sweeper making space for new data"
    assert evict.uid == 0 and evict.gid == 0
    hit = events[9]
    assert hit.size == 52428800  # `filesize` in hit records
    assert hit.protocol == "Https-1.1"


def test_inotify_sse(samples: Path, watches: dict[str, str]) -> None:
    res = decode((samples / "dcache-inotify.sse").read_bytes(), "dcache-inotify", inotify_watches=watches,
                 now_us=1_700_000_000_000_000)
    assert res.errors == []
    incoming = "/pnfs/lab.example/photon/incoming"
    assert [(e.kind, e.path, e.is_dir) for e in res.events] == [
        ("CREATE", f"{incoming}/upload_17.h5", False),
        ("OPEN", f"{incoming}/upload_17.h5", False),
        ("MODIFY", f"{incoming}/upload_17.h5", False),
        ("CLOSE_WRITE", f"{incoming}/upload_17.h5", False),
        ("ATTRIB", f"{incoming}/upload_17.h5", False),
        ("CREATE", f"{incoming}/calib", True),
        ("RENAME", f"{incoming}/final_17.h5", False),
        ("DELETE", "/pnfs/lab.example/photon/scratch/scratch.tmp", False),
        ("DELETE", "/pnfs/lab.example/photon/scratch", False),  # IN_DELETE_SELF: the watched dir
    ]
    rename = res.events[6]
    assert rename.old_path == f"{incoming}/upload_17.h5"
    assert rename.attrs["cookie"] == "q1W2e3R4t5Y6u7I8o9P0aA"
    assert res.events[0].attrs["sse_id"] == "0"
    assert res.events[5].raw_type == "IN_CREATE|IN_ISDIR"
    assert all(e.time_us == 1_700_000_000_000_000 for e in res.events)  # ingest time: no time in source
    assert res.stats.loss == 1  # the EVENT_LOSS frame
    assert res.stats.skipped == 2  # NEW_SUBSCRIPTION, IN_IGNORED


def test_gpfs_audit(samples: Path) -> None:
    res = decode((samples / "gpfs-audit.jsonl").read_bytes(), "gpfs-audit")
    assert res.errors == []
    assert [e.kind for e in res.events] == [
        "CREATE", "OPEN", "CLOSE", "CLOSE_WRITE", "RENAME", "DELETE", "DELETE", "ATTRIB", "ACCESS_DENIED"]
    close = res.events[2]
    assert close.time_us == us("2026-02-11T08:55:12.480+01:00")
    assert (close.client, close.bytes, close.size, close.file_id) == ("192.0.2.55", 16777216, 16777216, "88001")
    assert (close.system, close.storage_class, close.uid, close.gid) == ("gpfs.lab.example/scratch", "data", 3001, 3000)
    assert close.attrs == {"nodeName": "nsd03", "processId": "5120", "openFlags": "32961", "linkCount": "1",
                           "ownerUserId": "3001", "ownerGroupId": "3000", "permissions": "200100644"}
    assert res.events[0].client is None and res.events[0].bytes is None  # "" and "0" are absent
    rename = res.events[4]
    assert (rename.path, rename.old_path) == ("/gpfs/scratch/mri/sub-01/anat_final.nii",
                                              "/gpfs/scratch/mri/sub-01/anat.nii")
    assert res.events[6].is_dir and res.events[6].raw_type == "RMDIR"
    assert res.events[8].time_us == us("2026-02-11T09:01:00.999-05:00")


def test_gpfs_watch(samples: Path) -> None:
    res = decode((samples / "gpfs-watch.jsonl").read_bytes(), "gpfs-watch")
    assert res.errors == []
    assert [(e.kind, e.path, e.is_dir) for e in res.events] == [
        ("CREATE", "/gpfs/scratch/inbox/frame_0001.tif", False),
        ("CLOSE_WRITE", "/gpfs/scratch/inbox/frame_0001.tif", False),
        ("RENAME", "/gpfs/scratch/done/frame_0001.tif", False),
        ("CREATE", "/gpfs/scratch/inbox/batch2", True),  # IN_ISDIR bit in the hex mask
        ("DELETE", "/gpfs/scratch/inbox/frame_0000.tmp", False),
    ]
    assert res.events[2].old_path == "/gpfs/scratch/inbox/frame_0001.tif"


def test_s3(samples: Path) -> None:
    res = decode((samples / "s3.jsonl").read_bytes(), "s3")
    assert res.errors == []
    aws, minio, ceph = res.events
    assert (aws.kind, aws.path) == ("UPLOAD", "/beamline-7/runs/2026/run 42/image 001.tif")
    assert aws.file_id == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    assert (aws.user, aws.client, aws.protocol, aws.system) == (
        "AWS:AIDAEXAMPLE1", "203.0.113.9", "s3", "aws:s3")
    assert aws.attrs == {"bucket": "beamline-7", "sequencer": "0055AED6DCD90281E5",
                         "eTag": "d41d8cd98f00b204e9800998ecf8427e", "awsRegion": "eu-central-1"}
    assert aws.time_us == us("2026-02-11T09:30:00.120+00:00")
    assert (minio.kind, minio.raw_type, minio.path) == ("DELETE", "ObjectRemoved:Delete",
                                                         "/beamline-7/runs/2026/old.tif")
    assert minio.size is None and minio.file_id is None
    assert (ceph.size, ceph.file_id) == (10737418240, "9b2cf535f27731c974343645a3985328-80")  # text size; "" versionId
    assert ceph.client is None


def test_auto_detects_every_json_source(samples: Path) -> None:
    for name, source in (("dcache-billing.jsonl", "DCACHE_BILLING"), ("gpfs-audit.jsonl", "GPFS_AUDIT"),
                         ("gpfs-watch.jsonl", "GPFS_WATCH"), ("s3.jsonl", "S3")):
        data = (samples / name).read_bytes()
        auto = decode(data, "auto")
        explicit = decode(data, fastev.Source(source).decoder_name)
        assert [e.to_dict() for e in auto.events] == [e.to_dict() for e in explicit.events]
        assert {e.source for e in auto.events} == {source}


def test_auto_detects_sse(samples: Path, watches: dict[str, str]) -> None:
    data = (samples / "dcache-inotify.sse").read_bytes()
    auto = decode(data, "auto", inotify_watches=watches, now_us=5)
    assert len(auto.events) == 9 and {e.source for e in auto.events} == {"DCACHE_INOTIFY"}


def test_ids_are_deterministic_and_distinct(samples: Path) -> None:
    data = (samples / "dcache-billing.jsonl").read_bytes()
    a = [e.id for e in decode(data, "dcache-billing").events]
    b = [e.id for e in decode(data, "dcache-billing").events]
    assert a == b and len(set(a)) == len(a)
    assert all(len(i) == 32 and i == i.lower() and int(i, 16) >= 0 for i in a)
