"""EventHub.publish takes what ``fastev.decode()`` returns (StorageEvents) as well as dicts of their
fields: the same frames, the same decisions (C7). Anything else is a TypeError that leaves the hub
unchanged."""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fastev import decode
from fastev.acl import Acl
from fastev.sse import AclAuthorizer, EventHub
from tests.sse.helpers import claims, rs256, run, serving
from tests.sse.test_delivery import authenticator

ACL = """
[[allow]]
principals = ["user:alice"]
paths = ["/pnfs/lab.example/photon"]
sources = ["dcache-billing"]
"""


def test_storage_events_and_their_dicts_give_the_same_frames(pem_file: Path, signing_key: rsa.RSAPrivateKey,
                                                             samples: Path) -> None:
    events = decode((samples / "dcache-billing.jsonl").read_bytes(), "dcache-billing").events
    n = len(events)
    allowed = [i for i, e in enumerate(events) if e.path.startswith("/pnfs/lab.example/photon/")]
    assert 0 < len(allowed) < n
    hub = EventHub(replay=2 * n)
    for i, ev in enumerate(events):
        hub.publish(ev, i)                  # StorageEvent
    for i, ev in enumerate(events):
        hub.publish(ev.to_dict(), n + i)    # the dict of the same fields

    async def main() -> None:
        async with serving(hub, authenticator(pem_file), AclAuthorizer(Acl.from_text(ACL))) as srv:
            stream = await srv.stream(rs256(signing_key, claims("alice")), **{"from": "earliest"})
            await stream.until_id(n + allowed[-1])
            assert stream.ids() == allowed + [n + i for i in allowed]
            half = len(allowed)
            as_objects, as_dicts = stream.frames[:half], stream.frames[half:]
            assert [(f.event, f.data) for f in as_objects] == [(f.event, f.data) for f in as_dicts]
            assert [f.data for f in as_objects] == [events[i].to_dict() for i in allowed]
            await stream.close()

    run(main())


@pytest.mark.parametrize("value", [b"not an event", ["kind", "path"], None, 42])
def test_anything_else_is_a_type_error_and_changes_nothing(value: object) -> None:
    hub = EventHub(replay=10)
    with pytest.raises(TypeError, match="an event is a StorageEvent or a mapping of its fields"):
        hub.publish(value, 0)  # type: ignore[arg-type]
    assert hub.published == 0
    hub.publish({"kind": "UPLOAD", "path": "/x", "source": "dcache-billing", "id": "e"}, 0)  # offset 0 still free
    assert hub.published == 1
