"""A client that stops reading is cut off with OVERFLOW; the others keep receiving every frame, on time."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.acl import Acl
from fastev.sse import AclAuthorizer, EventHub
from fastev.sse.hub import OVERFLOW_FRAME
from tests.sse.helpers import Stream, claims, event, rs256, run, serving
from tests.sse.test_delivery import ACL_TEXT, authenticator

PAD = 32 * 1024  # fat events fill the stalled client's socket buffers quickly


def test_stalled_client_gets_overflow_and_others_keep_every_frame(pem_file: Path,
                                                                  signing_key: rsa.RSAPrivateKey) -> None:
    token = rs256(signing_key, claims("alice", groups=["/atlas"]))
    hub = EventHub(replay=10_000, client_queue=8)

    async def main() -> None:
        async with serving(hub, authenticator(pem_file), AclAuthorizer(Acl.from_text(ACL_TEXT)),
                           overflow_grace_s=20) as srv:
            fast = await srv.stream(token)
            # The stalled client: a real HTTP response whose body nobody reads for now.
            stalled = await srv.get("/events", token)
            assert stalled.status == 200
            latencies: list[float] = []
            n = 0
            while hub.drops == 0:
                n += 1
                assert n < 5000, "the stalled client never overflowed"
                t0 = time.perf_counter()
                hub.publish(event(f"/data/atlas/f{n}", "UPLOAD", n, pad=PAD), n)
                assert time.perf_counter() - t0 < 0.05  # publish never blocks on the stalled client
                await fast.until_id(n, timeout=5)
                latencies.append(time.perf_counter() - t0)
            overflow_at = n
            for _ in range(20):  # life goes on for the others (at the pace they read: the queue holds 8)
                n += 1
                hub.publish(event(f"/data/atlas/g{n}", "UPLOAD", n, pad=PAD), n)
                await fast.until_id(n, timeout=5)
            assert fast.ids() == list(range(1, n + 1))
            assert all(f.event == "UPLOAD" for f in fast.frames)
            assert max(latencies) < 1.0, max(latencies)

            # Now the stalled client reads: what was buffered, then OVERFLOW, then the end of the stream.
            slow = Stream(stalled)
            await asyncio.wait_for(slow._read(), timeout=10)
            events = [f.event for f in slow.frames]
            assert events[-1] == "OVERFLOW" and "OVERFLOW" not in events[:-1]
            assert slow.frames[-1].id is None and set(slow.frames[-1].data) == {"reason"}
            got = slow.ids()
            assert got == list(range(1, len(got) + 1)) and len(got) < overflow_at
            # It resumes with its Last-Event-ID and gets exactly the rest, from the replay window.
            resumed = await srv.stream(token, {"Last-Event-ID": str(got[-1])})
            await resumed.until_id(n)
            assert resumed.ids() == list(range(got[-1] + 1, n + 1))
            assert all(f.event != "EVENT_LOSS" for f in resumed.frames)
            metrics = await (await srv.get("/metrics")).text()
            assert "fastev_sse_drops_total 1.0" in metrics
            await fast.close()
            await resumed.close()
    run(main())


def test_hub_overflow_never_blocks_publish_and_drops_only_the_full_queue() -> None:
    class All:
        def allows(self, path: str, kind: str) -> bool:
            return True

    async def main() -> None:
        hub = EventHub(replay=4, client_queue=3)
        stuck = hub.subscribe(All())
        reader = hub.subscribe(All())
        got: list[bytes] = []
        for i in range(1, 11):
            hub.publish(event(f"/x/{i}"), i)
            frame = await reader.next(1)
            assert frame is not None
            got.append(frame)
        assert len(got) == 10 and hub.drops == 1 and stuck.overflowed and not reader.overflowed
        assert await stuck.next(0) == OVERFLOW_FRAME and OVERFLOW_FRAME.startswith(b"event: OVERFLOW\ndata: {")
        try:
            await stuck.next(0)
            raise AssertionError("stream should have ended")
        except EOFError:
            pass
        assert hub.clients == 1
    run(main())


def test_client_that_never_reads_again_is_disconnected_after_the_grace(pem_file: Path,
                                                                       signing_key: rsa.RSAPrivateKey) -> None:
    from fastev.sse.server import STATS

    token = rs256(signing_key, claims("alice", groups=["/atlas"]))
    hub = EventHub(replay=100, client_queue=4)

    async def main() -> None:
        async with serving(hub, authenticator(pem_file), AclAuthorizer(Acl.from_text(ACL_TEXT)),
                           overflow_grace_s=0.2) as srv:
            stalled = await srv.get("/events", token)
            assert srv.app[STATS]["connected"] == 1
            n = 0
            while hub.drops == 0:
                n += 1
                assert n < 5000
                hub.publish(event(f"/data/atlas/f{n}", "UPLOAD", n, pad=PAD), n)
                await asyncio.sleep(0)
            t0 = time.monotonic()
            while srv.app[STATS]["connected"]:
                assert time.monotonic() - t0 < 5, "the stalled connection was never dropped"
                await asyncio.sleep(0.05)
            assert hub.clients == 0
            stalled.close()
    run(main())
