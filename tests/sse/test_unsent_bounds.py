"""Readers that never read hold a bounded amount of the server, replay included; one identity has a stream cap."""
from __future__ import annotations

import asyncio
import resource
import socket
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.sse import EventHub
from fastev.sse.hub import MAX_UNSENT_BYTES, OVERFLOW_FRAME, SOCKET_HIGH_WATER, MemoryWriter
from tests.sse.helpers import AllowAll, claims, event, rs256, run, serving
from tests.sse.test_delivery import authenticator

WINDOW = 10_000
PAD = 1000  # ~1.3 KB frames: a 13 MB window, which each replaying reader used to get in its socket buffer at once
STALLED = 20


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


async def _stalled_reader(host: str, port: int, token: str) -> socket.socket:
    """A real client that asks for the whole replay window and then never reads (a 4 KiB receive buffer)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, port))
    await loop.sock_sendall(sock, f"GET /events?from=earliest HTTP/1.1\r\nHost: x\r\n"
                                  f"Authorization: Bearer {token}\r\n\r\n".encode())
    return sock


async def _read_all(sock: socket.socket, timeout: float) -> bytes:
    loop = asyncio.get_running_loop()
    chunks = []
    try:
        while chunk := await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), timeout):
            chunks.append(chunk)
    except ConnectionError:
        pass
    return b"".join(chunks)


def test_non_reading_replay_clients_stay_bounded_then_get_overflow_and_are_cut(
        pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    hub = EventHub(replay=WINDOW, client_queue=50)
    tokens = [rs256(signing_key, claims(f"user{i}")) for i in range(STALLED)]  # distinct identities

    async def main() -> None:
        for n in range(WINDOW):
            hub.publish(event(f"/data/f{n}", n=n, pad=PAD), n)
        async with serving(hub, authenticator(pem_file), lambda auth: AllowAll(), overflow_grace_s=3) as srv:
            host, port = srv.base.removeprefix("http://").split(":")
            rss0 = _rss_mb()
            socks = [await _stalled_reader(host, int(port), t) for t in tokens]
            for _ in range(100):  # until every reader is attached and its socket is full
                await asyncio.sleep(0.05)
                subs = hub.subscriptions()
                if len(subs) == STALLED and all(s.buffered() >= SOCKET_HIGH_WATER for s in subs):
                    break
            subs = hub.subscriptions()
            assert len(subs) == STALLED
            largest_frame = max(len(e.frame) for e in hub._window)
            per_reader = max(s.buffered() for s in subs)
            # Each holds at most the high water mark plus one frame, not its 13 MB replay.
            assert SOCKET_HIGH_WATER <= per_reader <= SOCKET_HIGH_WATER + largest_frame + 64, per_reader
            grown = _rss_mb() - rss0
            assert grown < 40, f"server grew {grown:.0f} MB for {STALLED} non-reading clients"
            # Live events while they still do not read: each falls client_queue frames behind, then OVERFLOW.
            n = WINDOW
            while hub.drops < STALLED:
                assert n < WINDOW + 500, f"only {hub.drops} of {STALLED} overflowed"
                hub.publish(event(f"/data/f{n}", n=n, pad=PAD), n)
                n += 1
                await asyncio.sleep(0)
                assert max((s.buffered() for s in hub.subscriptions()), default=0) <= hub.max_unsent_bytes
            assert hub.clients == 0
            # One of them reads now: a prefix of the window, then OVERFLOW as the last frame, then the end.
            body = await _read_all(socks[0], timeout=10)
            frames = body.split(b"\r\n0\r\n\r\n")[0]
            assert frames.rstrip().endswith(OVERFLOW_FRAME.rstrip()), frames[-200:]
            assert frames.count(b"event: OVERFLOW") == 1
            # The others never read: they are cut once the grace period is over.
            for sock in socks[1:]:
                rest = await _read_all(sock, timeout=8)
                assert rest.count(b"event: OVERFLOW") <= 1
            for sock in socks:
                sock.close()
            assert _rss_mb() - rss0 < 40
    run(main(), timeout=90)


def test_private_queue_without_window_is_bounded_in_bytes() -> None:
    """replay = 0: a backed-up reader's frames queue privately, up to max_unsent_bytes, then OVERFLOW."""
    class Full(MemoryWriter):
        def buffered(self) -> int:
            return SOCKET_HIGH_WATER + 1  # never drains

    async def main() -> None:
        hub = EventHub(replay=0, client_queue=10_000, max_unsent_bytes=64 * 1024)
        sub = hub.subscribe(AllowAll())
        writer = Full()
        hub.attach(sub, writer)
        n = 0
        while not sub.ended:
            hub.publish(event(f"/data/f{n}", n=n, pad=PAD), n)
            n += 1
            await asyncio.sleep(0)
            assert sub.queued_bytes <= 64 * 1024 + 2 * PAD
            assert n < 1000
        assert sub.overflowed and writer.frames()[-1] == OVERFLOW_FRAME
        assert n < 64 * 1024 // PAD + 5  # cut by bytes, long before client_queue frames
        assert MAX_UNSENT_BYTES >= SOCKET_HIGH_WATER
    run(main())


def test_streams_per_identity_are_capped_with_429(pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    alice = rs256(signing_key, claims("alice"))
    bob = rs256(signing_key, claims("bob"))

    async def main() -> None:
        async with serving(EventHub(), authenticator(pem_file), lambda auth: AllowAll(),
                           max_connections_per_identity=3) as srv:
            mine = [await srv.stream(alice) for _ in range(3)]
            extra = await srv.get("/events", alice)
            assert extra.status == 429 and "max_connections_per_identity" in (await extra.json())["error"]
            assert extra.headers["Retry-After"]
            other = await srv.stream(bob)  # another identity is not affected
            await mine[0].close()
            for _ in range(100):
                if srv.hub.clients == 3:
                    break
                await asyncio.sleep(0.02)
            again = await srv.stream(alice)  # a slot is free again once one of them left
            metrics = await (await srv.get("/metrics")).text()
            assert "fastev_sse_identity_refusals_total 1.0" in metrics
            for s in (*mine[1:], other, again):
                await s.close()
    run(main())


class AllowAllPaths(AllowAll):
    def covers_filter(self, prefix: str) -> bool:
        return True


def test_large_replay_while_publishing_arrives_whole_in_order(pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    """A replay many times the socket high water, read from the window while live events keep coming:
    every frame exactly once, in order, across the switch from catching up to the shared path."""
    token = rs256(signing_key, claims("alice"))
    hub = EventHub(replay=20_000, client_queue=10_000)
    window = 3000

    async def main() -> None:
        for n in range(window):
            hub.publish(event(f"/data/{'a' if n % 3 else 'b'}/f{n}", n=n, pad=PAD), n)
        async with serving(hub, authenticator(pem_file), lambda auth: AllowAllPaths()) as srv:
            everything = await srv.stream(token, None, **{"from": "earliest"})
            only_a = await srv.stream(token, None, **{"from": "earliest", "path": "/data/a"})
            n = window
            catching_up = 0
            for _ in range(40):  # live events in bursts while both are still reading their replay
                catching_up += sum(s.replay_next is not None for s in hub.subscriptions())
                for _ in range(10):
                    hub.publish(event(f"/data/{'a' if n % 3 else 'b'}/f{n}", n=n, pad=PAD), n)
                    n += 1
                await asyncio.sleep(0.005)
            hub.publish(event("/data/a/end-marker", n=n), n)  # seen by both: once it is in, so is the rest
            await everything.until_id(n, timeout=30)
            await only_a.until_id(n, timeout=30)
            assert everything.ids() == list(range(n + 1))
            assert only_a.ids() == [i for i in range(n) if i % 3] + [n]
            assert hub.drops == 0
            assert catching_up > 0  # live events did arrive while a replay was being read from the window
            await everything.close()
            await only_a.close()
    run(main(), timeout=60)
