"""A client that stops reading is cut off with OVERFLOW; the others keep receiving every frame, on time."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.acl import Acl
from fastev.sse import AclAuthorizer, EventHub
from fastev.sse.hub import OVERFLOW_FRAME, MemoryWriter
from tests.sse.helpers import AllowAll, Stream, claims, event, position, rs256, run, serving
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
            lag_seen = False
            while hub.drops == 0:
                n += 1
                assert n < 5000, "the stalled client never overflowed"
                if not lag_seen and any(s.lag() for s in hub.subscriptions()):
                    # Per-client lag on /metrics names the client falling behind (frames queued for it).
                    metrics = await (await srv.get("/metrics")).text()
                    lagging = [line for line in metrics.splitlines()
                               if line.startswith("fastev_sse_client_lag_frames{") and not line.endswith(" 0.0")]
                    assert len(lagging) == 1 and 'identity="alice"' in lagging[0], lagging
                    lag_seen = True
                t0 = time.perf_counter()
                hub.publish(event(f"/data/atlas/f{n}", "UPLOAD", n, pad=PAD), n)
                assert time.perf_counter() - t0 < 0.05  # publish never blocks on the stalled client
                await fast.until_id(n, timeout=5)
                latencies.append(time.perf_counter() - t0)
            overflow_at = n
            assert lag_seen
            for _ in range(20):  # life goes on for the others (at the pace they read: the queue holds 8)
                n += 1
                hub.publish(event(f"/data/atlas/g{n}", "UPLOAD", n, pad=PAD), n)
                await fast.until_id(n, timeout=5)
            assert fast.ids() == list(range(1, n + 1))
            assert all(f.event == "UPLOAD" for f in fast.frames)
            assert max(latencies) < 1.0, max(latencies)

            # Now the stalled client reads: what was buffered, then OVERFLOW, then the end of the stream.
            slow = Stream(stalled, hub.ids)
            await asyncio.wait_for(slow._read(), timeout=10)
            events = [f.event for f in slow.frames]
            assert events[-1] == "OVERFLOW" and "OVERFLOW" not in events[:-1]
            assert slow.frames[-1].id is None and set(slow.frames[-1].data) == {"reason"}
            got = slow.ids()
            assert got == list(range(1, len(got) + 1)) and len(got) < overflow_at
            # It resumes with its Last-Event-ID and gets exactly the rest, from the replay window.
            resumed = await srv.stream(token, {"Last-Event-ID": slow.last_raw_id()})
            await resumed.until_id(n)
            assert resumed.ids() == list(range(got[-1] + 1, n + 1))
            assert all(f.event != "EVENT_LOSS" for f in resumed.frames)
            metrics = await (await srv.get("/metrics")).text()
            assert "fastev_sse_drops_total 1.0" in metrics
            await fast.close()
            await resumed.close()
    run(main())


def test_hub_overflow_never_blocks_publish_and_drops_only_the_full_queue() -> None:
    class Stuck(MemoryWriter):
        """A socket whose buffer never drains."""

        def buffered(self) -> int:
            return 1 << 30

    async def main() -> None:
        hub = EventHub(replay=4, client_queue=3)
        stuck_sink, reader_sink = Stuck(), MemoryWriter()
        stuck, reader = hub.subscribe(AllowAll()), hub.subscribe(AllowAll())
        hub.attach(stuck, stuck_sink)
        hub.attach(reader, reader_sink)
        for i in range(1, 11):
            hub.publish(event(f"/x/{i}"), i)
            await asyncio.sleep(0)  # one flush per event
        frames = reader_sink.frames()
        assert len(frames) == 10 and all(f.startswith(b"id: ") for f in frames)
        assert [position(hub.ids, f.split(b"\n", 1)[0][4:].decode()) for f in frames] == list(range(1, 11))
        assert hub.drops == 1 and stuck.overflowed and not reader.overflowed
        assert stuck_sink.frames() == [OVERFLOW_FRAME] and OVERFLOW_FRAME.startswith(b"event: OVERFLOW\ndata: {")
        assert stuck.done is not None and stuck.done.done() and not reader.done.done()  # type: ignore[union-attr]
        assert hub.clients == 1
    run(main())


def test_overflow_before_the_stream_started_still_sends_overflow() -> None:
    async def main() -> None:
        hub = EventHub(replay=0, client_queue=2)
        sub = hub.subscribe(AllowAll())
        for i in range(5):  # the response headers are not out yet: frames wait, then overflow
            hub.publish(event(f"/x/{i}"), i)
            await asyncio.sleep(0)
        writer = MemoryWriter()
        hub.attach(sub, writer)
        assert sub.overflowed and writer.frames() == [OVERFLOW_FRAME] and hub.clients == 0
    run(main())


def test_hub_groups_identical_grants_and_coalesces_writes() -> None:
    """Subscribers with equal grant keys share one check per event; a flush writes each socket once."""
    checks = []

    class Prefix:
        def __init__(self, prefix: str) -> None:
            self.prefix = prefix

        def key(self) -> str:
            return self.prefix

        def allows(self, path: str, kind: str, source: str | None = None) -> bool:
            checks.append(self.prefix)
            return path.startswith(self.prefix)

    async def main() -> None:
        hub = EventHub(replay=0, coalesce_s=0.05)
        writers = []
        for i in range(40):
            sub = hub.subscribe(Prefix(f"/g{i % 2}/"))
            writers.append(MemoryWriter())
            hub.attach(sub, writers[-1])
        await asyncio.sleep(0)
        assert hub.groups == 2
        for i in range(10):
            hub.publish(event(f"/g{i % 2}/f{i}"), i)
        assert len(checks) == 2 * 10  # per event: one check per group, not per subscriber
        await asyncio.sleep(0.2)
        for i, writer in enumerate(writers):
            assert len(writer.chunks) == 1  # five frames, one write
            assert [f.count(b"/g%d/" % (i % 2)) for f in writer.frames()] == [1] * 5
        assert hub.frames_sent == 40 * 5 and hub.writes == 40
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
