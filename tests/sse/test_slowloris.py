"""Connections that trickle header bytes are aborted; authenticated readers are served meanwhile."""
from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.sse import EventHub
from fastev.sse.server import GUARD
from tests.sse.helpers import AllowAll, claims, event, rs256, run, serving
from tests.sse.test_delivery import authenticator

ATTACKERS = 200
MAX_WAITING = 40
HEADER_TIMEOUT_S = 1.0


async def _trickle(host: str, port: int, done: asyncio.Event) -> float | None:
    """Send a request line and then one header byte every 0.1 s; seconds until the server closed us."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(host, port)
    t0 = loop.time()
    writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    try:
        while not done.is_set():
            try:
                if not await asyncio.wait_for(reader.read(1024), 0.1):
                    return loop.time() - t0  # EOF: closed by the server
            except TimeoutError:
                writer.write(b"a")
        return None  # still open when the test gave up
    except ConnectionError:
        return loop.time() - t0
    finally:
        writer.close()


def test_trickling_connections_are_aborted_and_readers_still_get_events(pem_file: Path,
                                                                         signing_key: rsa.RSAPrivateKey) -> None:
    token = rs256(signing_key, claims("alice"))
    hub = EventHub(replay=100)

    async def main() -> None:
        async with serving(hub, authenticator(pem_file), lambda auth: AllowAll(),
                           header_timeout_s=HEADER_TIMEOUT_S, max_unauthenticated=MAX_WAITING) as srv:
            guard = srv.app[GUARD]
            host, port = srv.base.removeprefix("http://").split(":")
            before = await srv.stream(token)  # a reader connected before the attack
            done = asyncio.Event()
            attack = [asyncio.create_task(_trickle(host, int(port), done)) for _ in range(ATTACKERS)]
            await asyncio.sleep(0.3)
            during = await srv.stream(token)  # a reader connecting under attack
            most_waiting = 0
            for n in range(1, 21):
                hub.publish(event(f"/data/f{n}", n=n), n)
                most_waiting = max(most_waiting, guard.waiting)
                await asyncio.sleep(0.05)
            await before.until_id(20)
            await during.until_id(20)
            assert before.ids() == during.ids() == list(range(1, 21))
            # Every attacker is closed: evicted to respect the cap, or at its header deadline.
            closed = await asyncio.wait_for(asyncio.gather(*attack), timeout=HEADER_TIMEOUT_S + 10)
            done.set()
            assert None not in closed
            assert max(c for c in closed if c is not None) < HEADER_TIMEOUT_S + 2
            assert most_waiting <= MAX_WAITING
            assert guard.timed_out + guard.evicted >= ATTACKERS
            assert guard.open == 2 and guard.waiting == 0  # only the two readers remain
            await before.close()
            await during.close()
    run(main(), timeout=60)


def test_idle_keepalive_connection_counts_as_waiting_again(pem_file: Path) -> None:
    """After a response, a kept-alive connection that sends nothing more is aborted at the deadline."""
    async def main() -> None:
        async with serving(EventHub(), authenticator(pem_file), lambda auth: AllowAll(),
                           header_timeout_s=0.5) as srv:
            host, port = srv.base.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert b" 200 " in head.split(b"\r\n", 1)[0]
            t0 = asyncio.get_running_loop().time()
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # then nothing
            try:
                rest = await asyncio.wait_for(reader.read(), timeout=5)
            except ConnectionError:
                rest = b""
            assert b"HTTP/1." not in rest.split(b"\r\n\r\n", 1)[-1]  # no second response
            assert asyncio.get_running_loop().time() - t0 < 3
            assert srv.app[GUARD].timed_out == 1
            writer.close()
    run(main())
