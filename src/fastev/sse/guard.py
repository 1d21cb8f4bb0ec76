"""Admission of connections to the SSE server: nobody holds a socket without sending a request.

A connection is *waiting* while the server waits for a request's headers: from accept until the
headers are parsed, and again after each response while it is kept alive. A waiting connection has
not shown a token, so the server bounds what those cost (slowloris: trickle header bytes forever):

- ``header_timeout_s``: a connection waiting that long is aborted, however many bytes it trickled;
- ``max_waiting``: when one more would exceed the cap, the connection waiting the longest is aborted.
  Evicting the oldest rather than refusing the newest keeps the server reachable under attack: a real
  client sends its headers within milliseconds of connecting, before enough attackers arrive to evict it.

Connections whose request is being served (an authenticated stream, a 401 being written) are not
waiting and never counted. aiohttp offers no hook at accept time, so :class:`GuardedSite` wraps each
connection's protocol in a thin delegating :class:`_Admitted`.
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from aiohttp import web

__all__ = ("ConnectionGuard", "GuardedSite")


class _Admitted(asyncio.Protocol):
    """aiohttp's protocol for one connection, reporting its opening and closing to the guard."""

    __slots__ = ("inner", "guard", "transport", "deadline")

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self.inner, self.guard = inner, guard
        self.transport: asyncio.Transport | None = None
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.inner.connection_made(transport)
        self.guard._opened(self)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard._closed(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionGuard:
    """Counts and times out connections waiting for request headers (see the module docstring)."""

    def __init__(self, header_timeout_s: float = 10.0, max_waiting: int = 1024) -> None:
        if header_timeout_s <= 0 or max_waiting < 1:
            raise ValueError("header_timeout_s must be > 0 and max_waiting >= 1")
        self.header_timeout_s, self.max_waiting = header_timeout_s, max_waiting
        self._waiting: OrderedDict[_Admitted, None] = OrderedDict()  # oldest first
        self._by_transport: dict[Any, _Admitted] = {}
        self.timed_out = 0  # aborted after header_timeout_s
        self.evicted = 0  # aborted to make room under max_waiting

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def open(self) -> int:
        return len(self._by_transport)

    def protocol(self, inner: asyncio.Protocol) -> asyncio.Protocol:
        return _Admitted(inner, self)

    # A request's headers arrived / its response is done (called by the app's middleware).

    def request_started(self, transport: Any) -> None:
        conn = self._by_transport.get(transport)
        if conn is not None:
            self._stop_waiting(conn)

    def request_finished(self, transport: Any) -> None:
        conn = self._by_transport.get(transport)
        if conn is not None and not transport.is_closing():
            self._wait(conn)

    # ------------------------------------------------------------------ internals

    def _opened(self, conn: _Admitted) -> None:
        if conn.transport is None or conn.transport.is_closing():
            return
        self._by_transport[conn.transport] = conn
        self._wait(conn)

    def _closed(self, conn: _Admitted) -> None:
        self._stop_waiting(conn)
        self._by_transport.pop(conn.transport, None)

    def _wait(self, conn: _Admitted) -> None:
        self._stop_waiting(conn)
        while len(self._waiting) >= self.max_waiting:
            oldest = next(iter(self._waiting))
            self.evicted += 1
            self._abort(oldest)
        self._waiting[conn] = None
        conn.deadline = asyncio.get_running_loop().call_later(self.header_timeout_s, self._expire, conn)

    def _stop_waiting(self, conn: _Admitted) -> None:
        self._waiting.pop(conn, None)
        if conn.deadline is not None:
            conn.deadline.cancel()
            conn.deadline = None

    def _expire(self, conn: _Admitted) -> None:
        conn.deadline = None
        if conn in self._waiting:
            self.timed_out += 1
            self._abort(conn)

    def _abort(self, conn: _Admitted) -> None:
        self._stop_waiting(conn)  # at once: connection_lost comes on a later loop iteration
        if conn.transport is not None and not conn.transport.is_closing():
            conn.transport.abort()


class GuardedSite(web.TCPSite):
    """aiohttp's TCPSite with every accepted connection's protocol admitted through a guard.

    ``start`` is TCPSite.start with the protocol factory wrapped (aiohttp has no accept-time hook).
    """

    __slots__ = ("_guard",)

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard) -> None:
        super().__init__(runner, host, port)
        self._guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        guard = self._guard
        self._server = await asyncio.get_running_loop().create_server(
            lambda: guard.protocol(server()), self._host, self._port, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port)
        sockets = self._server.sockets
        if sockets:
            self._bound_port = sockets[0].getsockname()[1]
