"""The SSE HTTP server (aiohttp): ``GET /events``, ``GET /healthz``, ``GET /metrics``.

``make_app(hub, authenticator, authorizer_factory)`` builds the application;
:func:`start` runs it on a host/port (no access log: ``?authz=`` carries a token).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from fastev._ref.paths import canonical_path
from fastev.event import KINDS
from fastev.sse.auth import Authenticator, AuthError, AuthResult
from fastev.sse.hub import EventHub, Filters, Subscription

__all__ = ("make_app", "start", "HUB", "STATS")

HUB: web.AppKey[EventHub] = web.AppKey("fastev_sse_hub", EventHub)
STATS: web.AppKey[dict[str, int]] = web.AppKey("fastev_sse_stats", dict)
_KINDS = frozenset(KINDS)


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None
    return request.query.get("authz") or None


class _Collector:
    def __init__(self, hub: EventHub, stats: dict[str, int]) -> None:
        self.hub, self.stats = hub, stats

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily("fastev_sse_clients_connected", "SSE streams open", value=self.stats["connected"])
        yield CounterMetricFamily("fastev_sse_frames_sent", "event frames written to clients",
                                  value=self.hub.frames_sent)
        yield CounterMetricFamily("fastev_sse_drops", "clients cut off by OVERFLOW", value=self.hub.drops)
        yield CounterMetricFamily("fastev_sse_events_published", "events published to the hub",
                                  value=self.hub.published)
        yield CounterMetricFamily("fastev_sse_auth_failures", "requests refused with 401",
                                  value=self.stats["auth_failures"])
        yield GaugeMetricFamily("fastev_sse_client_lag_max", "largest number of frames queued for one client",
                                value=self.hub.max_lag())


def make_app(
    hub: EventHub,
    authenticator: Authenticator,
    authorizer_factory: Callable[[AuthResult], Any],
    *,
    keepalive_s: float = 15,
    overflow_grace_s: float = 5,
    realm: str = "fastev",
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The SSE application. ``authorizer_factory(auth_result)`` returns a Grant (fastev.sse.authz)."""
    app = web.Application()
    stats = {"connected": 0, "auth_failures": 0}
    app[HUB] = hub
    app[STATS] = stats
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Collector(hub, stats))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def events(request: web.Request) -> web.StreamResponse:
        try:
            auth = authenticator.authenticate(_token(request))
        except AuthError as exc:
            stats["auth_failures"] += 1
            return _json_error(401, "unauthorized", {"WWW-Authenticate": exc.www_authenticate(realm)})
        grant = authorizer_factory(auth)

        paths = request.query.getall("path", [])
        kinds = request.query.getall("kind", [])
        for p in paths:
            if canonical_path(p) is None:
                return _json_error(400, "path filter must be a canonical absolute path")
        bad_kinds = [k for k in kinds if k not in _KINDS]
        if bad_kinds:
            return _json_error(400, "unknown kind in kind filter")
        if any(not grant.covers_filter(p) for p in paths):
            return _json_error(403, "path filter outside the token's grants")

        last: int | str | None = None
        raw_last = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
        if raw_last:
            try:
                last = int(raw_last.strip())
            except ValueError:
                return _json_error(400, "Last-Event-ID must be an integer event id")
        elif request.query.get("from") == "earliest":
            last = "earliest"
        elif request.query.get("from") not in (None, "", "now"):
            return _json_error(400, 'from must be "earliest" or "now"')

        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
        })
        # Subscribe first: "now" (and the replay snapshot) is when the request was accepted.
        sub = hub.subscribe(grant, Filters(paths, kinds), last)  # type: ignore[arg-type]
        stats["connected"] += 1
        transport = request.transport

        def on_overflow() -> None:
            # The writer may be stuck on a full socket: give it a grace period, then drop the connection.
            if transport is not None:
                asyncio.get_running_loop().call_later(overflow_grace_s, _abort, transport)

        sub.on_overflow = on_overflow
        try:
            await response.prepare(request)
            await _pump(response, sub, hub, auth.expires_at, keepalive_s, clock)
        except ConnectionError:
            pass  # the client went away (or was cut off after an overflow)
        finally:
            hub.unsubscribe(sub)
            stats["connected"] -= 1
            if sub.overflowed:
                # Close instead of keep-alive; the abort timer still fires if the client never drains.
                response.force_close()
        return response

    async def on_shutdown(app: web.Application) -> None:
        hub.close_all()  # end every stream now rather than wait out the shutdown timeout

    async def index(request: web.Request) -> web.Response:
        # The live page (fastev/sse/static/index.html): inline script and style only, talks to /events.
        from importlib import resources
        page = resources.files("fastev.sse.static").joinpath("index.html").read_bytes()
        return web.Response(body=page, headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": "default-src 'none'; script-src 'self' 'unsafe-inline'; "
                                       "style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self'; "
                                       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
        })

    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/", index)
    app.router.add_get("/events", events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


def _abort(transport: asyncio.BaseTransport) -> None:
    if not transport.is_closing():
        transport.abort()  # type: ignore[attr-defined]


async def _pump(response: web.StreamResponse, sub: Subscription, hub: EventHub, expires_at: float | None,
                keepalive_s: float, clock: Callable[[], float]) -> None:
    await response.write(b": connected\n\n")
    while True:
        timeout = keepalive_s
        if expires_at is not None:
            left = expires_at - clock()
            if left <= 0:
                await response.write(b": token expired\n\n")
                return
            timeout = min(timeout, left)
        try:
            frame = await sub.next(timeout)
        except EOFError:
            return
        if frame is None:
            if expires_at is None or expires_at - clock() > 0:
                await response.write(b": keepalive\n\n")
            continue
        await response.write(frame)
        if frame[:3] == b"id:":
            hub.frames_sent += 1


async def start(app: web.Application, host: str = "127.0.0.1", port: int = 8787) -> tuple[web.AppRunner, int]:
    """Serve ``app``; returns the runner (``await runner.cleanup()`` to stop) and the bound port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = int(runner.addresses[0][1]) if runner.addresses else port
    return runner, bound
