"""The benchmark's plain-Python peer must produce what fastev produces, or the comparison is unfair."""
from __future__ import annotations

import json

from fastev import decode
from fastev.bench.peers import make_peer, map_billing
from fastev.bench.records import generate


def test_billing_peer_builds_the_same_events() -> None:
    records = generate("dcache-billing", 200, seed=3) + generate("dcache-request", 200, seed=4)
    for raw in records:
        peer = map_billing(json.loads(raw), raw)
        [ev] = decode(raw, "dcache-billing").events
        theirs, ours = dict(peer), ev.to_dict()
        theirs.pop("id"), ours.pop("id")  # the peer hashes with blake2b, fastev with murmur3
        assert theirs == ours


def test_peers_encode_every_record() -> None:
    for source in ("dcache-billing", "gpfs-audit", "gpfs-watch", "s3"):
        records = generate(source, 50)
        for parser in ("json", "orjson", "msgspec"):
            assert len(make_peer(source, parser)(records)) > 50 * 100


def test_msgspec_peer_matches_too() -> None:
    records = generate("dcache-billing", 100, seed=5)
    assert make_peer("dcache-billing", "msgspec")(records) == make_peer("dcache-billing", "json")(records)
