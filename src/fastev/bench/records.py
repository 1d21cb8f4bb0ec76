"""Realistic raw records for benchmarks and demos (docs/formats.md shapes, ~700-900 bytes each).

Deterministic for a given seed, so runs on different machines compare.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

VOS = ("atlas", "cms", "photon", "dune", "belle", "lofar")
PROTOCOLS = (("Xrootd", 5, 0), ("Https", 1, 1), ("NFS4", 4, 1), ("GFtp", 2, 0))


def _iso(rng: random.Random) -> str:
    frac = rng.choice(("", ".3", ".31", ".402", ".123456789"))
    return (f"2026-0{rng.randint(1, 9)}-{rng.randint(10, 28)}T{rng.randint(10, 23)}:{rng.randint(10, 59)}:"
            f"{rng.randint(10, 59)}{frac}{rng.choice(('Z', '+01:00', '-05:00'))}")


def _gpfs_time(rng: random.Random) -> str:
    return (f"2026-0{rng.randint(1, 9)}-{rng.randint(10, 28)}_{rng.randint(10, 23)}:{rng.randint(10, 59)}:"
            f"{rng.randint(10, 59)}.{rng.randint(100, 999)}{rng.choice(('+0100', '+0000', '-0500'))}")


def _path(rng: random.Random, root: str) -> tuple[str, str]:
    vo = rng.choice(VOS)
    depth = rng.randint(2, 4)
    parts = [f"d{rng.randint(0, 999)}" for _ in range(depth)]
    return vo, f"{root}/{vo}/" + "/".join(parts) + f"/file_{rng.randint(0, 10**6)}.root"


def dcache_transfer(rng: random.Random) -> bytes:
    vo, path = _path(rng, "/pnfs/example.org/data")
    proto, major, minor = rng.choice(PROTOCOLS)
    size = rng.randint(0, 20 * 10**9)
    uid = rng.randint(1000, 60000)
    write = rng.random() < 0.4
    rec = {
        "version": "1.0", "msgType": "transfer", "date": _iso(rng), "queuingTime": rng.randint(0, 100),
        "cellName": f"pool-{vo}-{rng.randint(1, 40)}", "cellType": "pool",
        "cellDomain": f"pool-{vo}-{rng.randint(1, 40)}Domain", "status": {"code": 0, "msg": ""},
        "session": f"pool:pool-{vo}@pool-{vo}Domain:{rng.randint(10**12, 10**13)}",
        "subject": [f"UserNamePrincipal[{vo}user{uid % 97}]", f"UidPrincipal[{uid}]",
                    f"GidPrincipal[{uid // 10},primary]", f"FQANPrincipal[/{vo}/Role=production,primary]",
                    f"Origin[192.0.2.{rng.randint(1, 254)}]"],
        "pnfsid": "0000" + "".join(rng.choice("0123456789ABCDEF") for _ in range(32)),
        "billingPath": path, "fileSize": size, "storageInfo": f"{vo}:disk@osm",
        "transferSize": size, "transferTime": rng.randint(1, 10**6),
        "isWrite": "write" if write else "read",
        "initiator": f"door:Xrootd-{vo}@xrootdDomain:AAZ{rng.randint(10**6, 10**7)}",
        "isP2p": rng.random() < 0.05, "transferPath": path,
        "protocolInfo": {"protocol": proto, "versionMajor": major, "versionMinor": minor,
                         "transferTag": str(rng.randint(0, 999)), "port": rng.randint(1024, 65535),
                         "host": f"192.0.2.{rng.randint(1, 254)}"},
        ("meanWriteBandwidth" if write else "meanReadBandwidth"): float(f"{rng.uniform(1, 9):.2f}E8"),
    }
    return json.dumps(rec, separators=(",", ":")).encode()


def dcache_request(rng: random.Random) -> bytes:
    vo, path = _path(rng, "/pnfs/example.org/data")
    uid = rng.randint(1000, 60000)
    rec = {
        "VERSION": "1.0", "msgType": "request", "date": _iso(rng), "queuingTime": 0,
        "cellName": f"Xrootd-{vo}", "cellType": "door", "cellDomain": "xrootdDomain",
        "status": {"code": rng.choice((0, 0, 0, 10006)), "msg": ""},
        "session": f"door:Xrootd-{vo}@xrootdDomain:AAZ{rng.randint(10**6, 10**7)}:{rng.randint(10**15, 10**16)}",
        "sessionDuration": rng.randint(0, 10**5), "transferPath": path,
        "subject": [f"UserNamePrincipal[{vo}user{uid % 97}]", f"UidPrincipal[{uid}]",
                    f"GidPrincipal[{uid // 10},primary]", f"GroupNamePrincipal[{vo},primary]",
                    f"Origin[198.51.100.{rng.randint(1, 254)}]"],
        "client": f"198.51.100.{rng.randint(1, 254)}", "clientChain": f"198.51.100.{rng.randint(1, 254)}",
        "mappedUID": uid, "mappedGID": uid // 10, "owner": f"{vo}user{uid % 97}",
        "pnfsid": "0000" + "".join(rng.choice("0123456789ABCDEF") for _ in range(32)),
        "billingPath": path, "fileSize": rng.randint(0, 10**10), "storageInfo": f"{vo}:disk@osm",
    }
    return json.dumps(rec, separators=(",", ":")).encode()


def _gpfs_common(rng: random.Random) -> dict[str, str]:
    t = _gpfs_time(rng)
    uid = rng.randint(1000, 60000)
    return {"clusterName": "gpfs.example.org", "nodeName": f"nsd{rng.randint(1, 16):02d}", "nfsClientIp": "",
            "fsName": "scratch", "inode": str(rng.randint(1, 10**9)), "linkCount": "1", "poolName": "data",
            "fileSize": str(rng.randint(0, 10**10)), "ownerUserId": str(uid), "ownerGroupId": str(uid // 10),
            "atime": t, "ctime": t, "mtime": t, "eventTime": t, "clientUserId": str(uid),
            "clientGroupId": str(uid // 10)}


def gpfs_audit(rng: random.Random) -> bytes:
    _, path = _path(rng, "/gpfs/scratch")
    rec = {"LWE_JSON": "0.0.5", "path": path, **_gpfs_common(rng),
           "event": rng.choice(("CREATE", "OPEN", "CLOSE", "CLOSEWRITE", "UNLINK", "XATTRCHANGE")),
           "accessMode": None, "bytesRead": "0", "bytesWritten": str(rng.randint(0, 10**9)),
           "minReadOffset": "9223372036854775807", "maxReadOffset": "0", "minWriteOffset": "0",
           "maxWriteOffset": "0", "permissions": "200100644", "acls": None, "xattrs": None, "subEvent": "NONE",
           "openFlags": "32961", "processId": str(rng.randint(100, 99999))}
    return json.dumps(rec).encode()


def gpfs_watch(rng: random.Random) -> bytes:
    _, path = _path(rng, "/gpfs/scratch")
    event, mask = rng.choice((("IN_CREATE", "0x00000100"), ("IN_CLOSE_WRITE", "0x00000008"),
                              ("IN_DELETE", "0x00000200"), ("IN_MODIFY", "0x00000002")))
    rec = {"WF_JSON": "0.0.1", "wd": "4", "cookie": "0", "mask": mask, "event": event, "path": path,
           **_gpfs_common(rng), "filesetID": "2", "openFlags": "0"}
    return json.dumps(rec).encode()


def s3(rng: random.Random) -> bytes:
    vo, path = _path(rng, "")
    key = path.split("/", 2)[2].replace(" ", "+")
    rec = {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-central-1", "eventTime": _iso(rng),
        "eventName": rng.choice(("ObjectCreated:Put", "ObjectRemoved:Delete", "ObjectCreated:Copy")),
        "userIdentity": {"principalId": f"AWS:AIDA{rng.randint(10**9, 10**10)}"},
        "requestParameters": {"sourceIPAddress": f"203.0.113.{rng.randint(1, 254)}"},
        "responseElements": {"x-amz-request-id": f"{rng.getrandbits(64):016X}",
                             "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "ingest",
               "bucket": {"name": vo, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                          "arn": f"arn:aws:s3:::{vo}"},
               "object": {"key": key, "size": rng.randint(0, 10**10), "eTag": f"{rng.getrandbits(128):032x}",
                          "versionId": f"{rng.getrandbits(96):024x}", "sequencer": f"{rng.getrandbits(72):018X}"}}}]}
    return json.dumps(rec, separators=(",", ":")).encode()


def dcache_inotify(rng: random.Random, index: int) -> bytes:
    name = f"file_{rng.randint(0, 10**6)}.h5"
    mask = rng.choice((["IN_CREATE"], ["IN_CLOSE_WRITE"], ["IN_DELETE"], ["IN_CREATE", "IN_ISDIR"]))
    sub = f"https://frontend.example.org:3880/api/v1/events/channels/Q2hhbm5lbA/subscriptions/inotify/W{index % 8}"
    data = json.dumps({"event": {"name": name, "mask": mask}, "subscription": sub})
    return f"event: inotify\nid: {index}\ndata: {data}\n\n".encode()


INOTIFY_WATCHES = {f"W{i}": f"/pnfs/example.org/data/incoming/w{i}" for i in range(8)}

GENERATORS: dict[str, Callable[[random.Random], bytes]] = {
    "dcache-billing": dcache_transfer,
    "dcache-request": dcache_request,
    "gpfs-audit": gpfs_audit,
    "gpfs-watch": gpfs_watch,
    "s3": s3,
}
DECODER_FOR = {"dcache-request": "dcache-billing"}


def generate(kind: str, n: int, seed: int = 7) -> list[bytes]:
    """``n`` records of one kind; ``dcache-inotify`` gives SSE frames (each ends with a blank line)."""
    rng = random.Random(seed)
    if kind == "dcache-inotify":
        return [dcache_inotify(rng, i) for i in range(n)]
    gen = GENERATORS[kind]
    return [gen(rng) for _ in range(n)]


def stream(kind: str, n: int, seed: int = 7) -> bytes:
    """The records as one input stream (JSON lines, or SSE text)."""
    recs = generate(kind, n, seed)
    return b"".join(recs) if kind == "dcache-inotify" else b"\n".join(recs) + b"\n"


def sample_transfer_event() -> dict[str, Any]:
    """One decoded dCache transfer (docs/formats.md §3.1 output): the event of the encoding tests and benchmarks."""
    return {
        "id": "5f0c8a7e2b1d4c3fa9e8d7c6b5a49382",
        "source": "DCACHE_BILLING",
        "kind": "DOWNLOAD",
        "raw_type": "transfer",
        "time_us": 1753714391869000,
        "path": "/pnfs/example.org/data/atlas/mc23/EVNT.37712345._000123.pool.root.1",
        "old_path": None,
        "is_dir": False,
        "size": 3_971_234_567,
        "bytes": 3_971_234_567,
        "duration_ms": 12_345,
        "status": 0,
        "status_msg": None,
        "file_id": "0000A1B2C3D4E5F60718293A4B5C6D7E8F90",
        "user": "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=atlprd/CN=123456/CN=Robot: ATLAS Production",
        "uid": 41000,
        "gid": 1307,
        "groups": ["/atlas/Role=production", "/atlas"],
        "client": "192.0.2.10",
        "protocol": "Xrootd-5.0",
        "system": "pool-d01-r1@pool-d01Domain",
        "storage_class": "atlas:MC@osm",
        "attrs": {"session": "door:Xrootd-dcache-door@xrootd-Domain:AAYpIq8E1hg",
                  "initiator": "door:Xrootd-dcache-door@xrootd-Domain:1753714379534-12345",
                  "transferTag": "", "cellType": "pool"},
    }
