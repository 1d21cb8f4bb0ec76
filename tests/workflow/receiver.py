"""A real aiohttp webhook receiver on 127.0.0.1 for the workflow tests, and storage events to send it."""
from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from fastev.event import FIELDS
from fastev.workflow.attempt import Job

TIME_US = 1770797645310000  # 2026-02-11T08:14:05.310000Z


def storage_event(path: str = "/pnfs/example.org/data/atlas/raw/f1.root", **fields: Any) -> dict[str, Any]:
    """A complete StorageEvent (docs/formats.md §1) as the workflow engine hands it to actions."""
    event: dict[str, Any] = {
        "id": "5f0c6a1e2d3b4c5a69788796a5b4c3d2", "source": "DCACHE_BILLING", "kind": "UPLOAD",
        "raw_type": "transfer", "time_us": TIME_US, "path": path, "old_path": None, "is_dir": False,
        "size": 1048576, "bytes": 1048576, "duration_ms": 120, "status": 0, "status_msg": None,
        "file_id": "0000A1B2C3D4E5F6", "user": "atlasprd", "uid": 31000, "gid": 1307, "groups": ["/atlas"],
        "client": "192.0.2.10", "protocol": "Xrootd-5.0", "system": "pool1@poolDomain",
        "storage_class": "atlas:raw@osm", "attrs": {"session": "door:Xrootd@dCacheDomain:AAA"},
    }
    event.update(fields)
    assert tuple(event) == FIELDS
    return event


def job_of(event: dict[str, Any], workflow: str = "hook", output: dict[str, Any] | None = None) -> Job:
    return Job(workflow, event, orjson.dumps(event), output)


@dataclass
class Received:
    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes
    peer: tuple[str, int] | None = None  # the client's address: one per connection (keep-alive shows)
    request: web.Request | None = field(default=None, repr=False)  # for replies that act on the connection


Reply = Callable[[Received], "web.StreamResponse | Awaitable[web.StreamResponse]"]


@dataclass
class Receiver:
    """What the server got, in order; ``reply`` decides each answer (200 with no body by default)."""
    url: str = ""
    reply: Reply | None = None
    requests: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # ends slow replies at shutdown

    async def handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        got = Received(request.method, request.path_qs, CIMultiDict(request.headers), await request.read(),
                       tuple(peer[:2]) if peer else None, request)
        self.requests.append(got)
        if self.reply is None:
            return web.Response(status=200)
        answer = self.reply(got)
        return await answer if inspect.isawaitable(answer) else answer


@asynccontextmanager
async def receiver(reply: Reply | None = None) -> AsyncIterator[Receiver]:
    rec = Receiver(reply=reply)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield rec
    finally:
        rec.release.set()
        await runner.cleanup()


def run(coro: Awaitable[Any], timeout: float = 60) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())
