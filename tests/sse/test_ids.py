"""Opaque SSE ids: exact resume, nothing learned from them, foreign ids are a loss and never a wrong position."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.sse import EventHub
from fastev.sse.hub import EVENT_LOSS_FRAME, MemoryWriter
from fastev.sse.ids import EventIds, load_or_create_key
from tests.sse.helpers import AllowAll, claims, event, position, rs256, run, serving
from tests.sse.test_delivery import authenticator
from tests.sse.test_stream import acl_authz


def test_ids_round_trip_and_refuse_anything_else() -> None:
    key = os.urandom(32)
    ids = EventIds(key, "kafka-topic:t")
    cursor = {0: 17, 3: 2**40, 1: 0}
    token = ids.encode(cursor)
    assert ids.decode(token) == cursor and EventIds(key, "kafka-topic:t").encode(cursor) == token  # deterministic
    assert not token.isdigit() and "17" not in token
    # Fixed width: the id length does not tell how far apart two positions are.
    assert len(ids.encode({0: 1})) == len(ids.encode({0: 2**60}))
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (flipped, "", "42", "x" * 10_000, "not base64!", token + "AAAA"):
        assert ids.decode(bad) is None, bad
    assert EventIds(key, "kafka-topic:other").decode(token) is None  # another stream
    assert EventIds(os.urandom(32), "kafka-topic:t").decode(token) is None  # another key
    with pytest.raises(ValueError):
        EventIds(b"short")


def test_key_file_is_created_private_and_then_shared(tmp_path: Path) -> None:
    path = tmp_path / "sse-id.key"
    key = load_or_create_key(path)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    path.write_bytes(b"too short")
    with pytest.raises(ValueError, match="32, 48 or 64"):
        load_or_create_key(path)


def test_foreign_or_forged_last_event_id_gets_event_loss_then_the_window() -> None:
    """A browser reconnecting with an id from a previous process (or a forged one) is told it may have missed
    events and gets the window: a 400 would stop EventSource for good, a guess would be a wrong position."""
    async def main() -> None:
        hub = EventHub(replay=10)
        for i in range(5):
            hub.publish(event(f"/x/{i}"), i)
        previous = EventHub(replay=10)  # another process: its own key and stream
        previous.publish(event("/x/0"), 0)
        for last in (previous.id_after(0), "forged", hub.id_after(2)):
            writer = MemoryWriter()
            sub = hub.subscribe(AllowAll(), last_event_id=last)
            hub.attach(sub, writer)
            await asyncio_sleep()
            frames = writer.frames()
            if last == hub.id_after(2):
                assert [position(hub.ids, f.split(b"\n", 1)[0][4:].decode()) for f in frames] == [3, 4]
            else:
                assert frames[0] == EVENT_LOSS_FRAME and len(frames) == 6
            hub.unsubscribe(sub)
    run(main())


async def asyncio_sleep() -> None:
    import asyncio

    await asyncio.sleep(0.01)


def test_restricted_client_cannot_count_hidden_events_from_ids(pem_file: Path,
                                                               signing_key: rsa.RSAPrivateKey) -> None:
    """bob sees 2 of 6 events; his ids are opaque, equally long, and equal to the full reader's for the same
    event (so they can be shared), but reveal nothing about the 4 he may not see."""
    bob = rs256(signing_key, claims("bob", groups=["/atlas"]))
    root = rs256(signing_key, claims("carol", groups=["/atlas"]))  # carol also reads /data/cms
    hub = EventHub(replay=100)
    paths = ["/data/cms/a", "/data/atlas/x", "/data/cms/b", "/data/cms/c", "/data/cms/d", "/data/atlas/y"]

    async def main() -> tuple[list[str | None], list[str | None]]:
        async with serving(hub, authenticator(pem_file), acl_authz()) as srv:
            for i, p in enumerate(paths):
                hub.publish(event(p, "UPLOAD", i), i)
            b = await srv.stream(bob, **{"from": "earliest"})
            r = await srv.stream(root, **{"from": "earliest"})
            await b.wait_for(lambda s: len(s.raw_ids()) == 2)
            await r.wait_for(lambda s: len(s.raw_ids()) == 6)
            await b.close()
            await r.close()
            return [f.raw_id for f in b.frames], [f.raw_id for f in r.frames]

    bob_ids, root_ids = run(main())
    assert bob_ids == [root_ids[1], root_ids[5]]
    assert len({len(i or "") for i in bob_ids + root_ids}) == 1
    assert not any((i or "").isdigit() for i in bob_ids)
