"""The SSE HTTP server (aiohttp): ``GET /events``, ``GET /healthz``, ``GET /metrics``.

``make_app(hub, authenticator, authorizer_factory)`` builds the application;
:func:`start` runs it on a host/port (no access log: ``?authz=`` carries a token).
"""
from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

from aiohttp import HttpVersion11, web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from fastev.event import KINDS
from fastev.paths import canonical_path
from fastev.sse.auth import Authenticator, AuthError, AuthResult
from fastev.sse.guard import ConnectionGuard, GuardedSite
from fastev.sse.httplog import HTTP_LOG
from fastev.sse.hub import EventHub, Filters, http_chunk

__all__ = ("make_app", "start", "HUB", "STATS", "GUARD")

HUB: web.AppKey[EventHub] = web.AppKey("fastev_sse_hub", EventHub)
STATS: web.AppKey[dict[str, int]] = web.AppKey("fastev_sse_stats", dict)
GUARD: web.AppKey[ConnectionGuard] = web.AppKey("fastev_sse_guard", ConnectionGuard)
_KINDS = frozenset(KINDS)
LAG_SERIES = 20


def _label(auth: AuthResult) -> str:
    identity = auth.identity
    if identity.user is not None:
        return identity.user
    return f"uid:{identity.uid}" if identity.uid is not None else "-"


def _identity_key(auth: AuthResult) -> Any:
    """Whose streams count together against max_connections_per_identity."""
    identity = auth.identity
    try:
        hash(identity)
    except TypeError:
        return _label(auth)
    return identity


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _loopback(request: web.Request) -> bool:
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    if not peer:
        return False
    try:
        return ipaddress.ip_address(str(peer[0]).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None
    return request.query.get("authz") or None


class _Collector:
    def __init__(self, hub: EventHub, stats: dict[str, int], guard: ConnectionGuard) -> None:
        self.hub, self.stats, self.guard = hub, stats, guard

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
        yield GaugeMetricFamily("fastev_sse_connections_waiting", "connections waiting for request headers",
                                value=self.guard.waiting)
        yield CounterMetricFamily("fastev_sse_connections_aborted", "connections aborted before sending a "
                                  "request: header timeout or the cap on waiting connections",
                                  value=self.guard.timed_out + self.guard.evicted)
        yield CounterMetricFamily("fastev_sse_identity_refusals", "streams refused with 429: the identity "
                                  "had max_connections_per_identity open", value=self.stats["identity_refusals"])
        yield GaugeMetricFamily("fastev_sse_subscriber_groups", "distinct grant+filter groups (checks per event)",
                                value=self.hub.groups)
        # Per-client lag for the most lagging clients only: one series per connection would be unbounded.
        frames = GaugeMetricFamily("fastev_sse_client_lag_frames", f"frames queued for a client (the "
                                   f"{LAG_SERIES} most lagging)", labels=["client", "identity"])
        buffered = GaugeMetricFamily("fastev_sse_client_lag_bytes", f"bytes in a client's socket buffer (the "
                                     f"{LAG_SERIES} most lagging)", labels=["client", "identity"])
        for sub in self.hub.most_lagging(LAG_SERIES):
            frames.add_metric([str(sub.serial), sub.label], sub.lag())
            buffered.add_metric([str(sub.serial), sub.label], sub.buffered())
        yield frames
        yield buffered


def make_app(
    hub: EventHub,
    authenticator: Authenticator,
    authorizer_factory: Callable[[AuthResult], Any],
    *,
    keepalive_s: float = 15,
    overflow_grace_s: float = 5,
    realm: str = "fastev",
    clock: Callable[[], float] = time.time,
    metrics_readers: Collection[str] | None = None,
    header_timeout_s: float = 10,
    max_unauthenticated: int = 1024,
    max_connections_per_identity: int = 32,
) -> web.Application:
    """The SSE application. ``authorizer_factory(auth_result)`` returns a Grant (fastev.sse.authz).

    ``/metrics`` counts every event and names lagging identities, which a reader restricted to a subtree
    must not learn: with ``metrics_readers`` (principals such as ``user:prometheus``) it needs a token of
    one of them; without, it answers loopback peers only (a local scraper or sidecar).

    ``header_timeout_s`` and ``max_unauthenticated`` bound connections that have not sent a request yet
    (fastev.sse.guard; in force when served by :func:`start`); ``max_connections_per_identity`` streams
    may be open per identity, one more is refused with 429.
    """
    if max_connections_per_identity < 1:
        raise ValueError("max_connections_per_identity must be >= 1")
    guard = ConnectionGuard(header_timeout_s, max_unauthenticated)

    @web.middleware
    async def admission(request: web.Request, handler: Any) -> web.StreamResponse:
        guard.request_started(request.transport)  # headers are in: no longer waiting
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            if request.transport is not None:
                guard.request_finished(request.transport)  # kept alive: waits for the next request

    app = web.Application(middlewares=[admission])
    stats = {"connected": 0, "auth_failures": 0, "identity_refusals": 0}
    streams_of: dict[Any, int] = {}  # identity -> streams open
    app[HUB] = hub
    app[GUARD] = guard
    hub.keepalive_s = keepalive_s
    app[STATS] = stats
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Collector(hub, stats, guard))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    readers = frozenset(metrics_readers) if metrics_readers is not None else None

    async def metrics(request: web.Request) -> web.Response:
        if readers is None:
            if not _loopback(request):
                return _json_error(403, "metrics are served to loopback peers only (see sse.metrics_readers)")
        else:
            try:
                auth = authenticator.authenticate(_token(request))
            except AuthError as exc:
                stats["auth_failures"] += 1
                return _json_error(401, "unauthorized", {"WWW-Authenticate": exc.www_authenticate(realm)})
            if readers.isdisjoint(auth.identity.principals()):
                return _json_error(403, "not a metrics reader")
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

        last: str | None = None
        raw_last = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
        if raw_last:
            last = raw_last.strip()  # opaque; an id the hub cannot read gets EVENT_LOSS, then the window
        elif request.query.get("from") == "earliest":
            last = "earliest"
        elif request.query.get("from") not in (None, "", "now"):
            return _json_error(400, 'from must be "earliest" or "now"')

        who = _identity_key(auth)
        if streams_of.get(who, 0) >= max_connections_per_identity:
            stats["identity_refusals"] += 1
            return _json_error(429, f"too many streams open for this identity "
                                    f"(max_connections_per_identity = {max_connections_per_identity})",
                               {"Retry-After": "5"})

        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
        })
        if request.version >= HttpVersion11:
            response.enable_chunked_encoding()  # explicit: the hub frames its writes as chunks itself
        # Subscribe first: "now" (and the replay snapshot) is when the request was accepted.
        sub = hub.subscribe(grant, Filters(paths, kinds), last, label=_label(auth))
        stats["connected"] += 1
        streams_of[who] = streams_of.get(who, 0) + 1
        try:
            if auth.expires_at is not None and auth.expires_at <= clock():
                return response  # expired between authentication and now: nothing to stream
            await response.prepare(request)
            await response.write(b": connected\n\n")  # sends the headers; from here frames go to the socket
            transport = request.transport
            if transport is None or transport.is_closing():
                return response
            loop = asyncio.get_running_loop()
            expires = None if auth.expires_at is None else loop.time() + (auth.expires_at - clock())
            hub.attach(sub, _TransportWriter(transport, response.chunked), expires)
            assert sub.done is not None
            await sub.done
        except ConnectionError:
            pass  # the client went away
        finally:
            hub.unsubscribe(sub)
            stats["connected"] -= 1
            if streams_of[who] == 1:
                del streams_of[who]
            else:
                streams_of[who] -= 1
            if sub.overflowed:
                # Close instead of keep-alive; drop the connection if the client does not drain in time.
                response.force_close()
                if request.transport is not None:
                    asyncio.get_running_loop().call_later(overflow_grace_s, _abort, request.transport)
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


class _TransportWriter:
    """The hub writes a client's frames straight to its socket, framed as HTTP/1.1 chunks when chunked.

    aiohttp's StreamResponse.write is a coroutine per write; the hub writes once per client per flush from
    a plain callback instead. The headers and the first chunk went through aiohttp; its final zero-length
    chunk is written by aiohttp when the handler returns.
    """

    __slots__ = ("transport", "chunked", "raw_write")

    def __init__(self, transport: asyncio.Transport, chunked: bool) -> None:
        self.transport, self.chunked = transport, chunked
        self.raw_write = transport.write

    def write(self, data: bytes) -> None:
        self.transport.write(http_chunk(data) if self.chunked else data)

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size()

    def closing(self) -> bool:
        return self.transport.is_closing()


def _abort(transport: asyncio.BaseTransport) -> None:
    if not transport.is_closing():
        transport.abort()  # type: ignore[attr-defined]


async def start(app: web.Application, host: str = "127.0.0.1", port: int = 8787) -> tuple[web.AppRunner, int]:
    """Serve ``app``; returns the runner (``await runner.cleanup()`` to stop) and the bound port.

    aiohttp logs to fastev.sse.http, which never logs request bytes (fastev.sse.httplog).
    """
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1, logger=HTTP_LOG)
    await runner.setup()
    guard = app.get(GUARD)
    site = web.TCPSite(runner, host, port) if guard is None else GuardedSite(runner, host, port, guard)
    await site.start()
    bound = int(runner.addresses[0][1]) if runner.addresses else port
    return runner, bound
