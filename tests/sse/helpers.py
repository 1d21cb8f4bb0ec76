"""Shared helpers for the SSE tests: keys, tokens, events, a real server on loopback, an SSE reader."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.event import FIELDS
from fastev.sse import EventHub, make_app, start

ISSUER = "https://issuer.test"
AUDIENCE = "fastev-sse"


def run(coro: Awaitable[Any], timeout: float = 30) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(sub: str = "alice", *, ttl: float = 600, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now - 5, "exp": now + int(ttl)}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def rs256(key: rsa.RSAPrivateKey, payload: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers=headers)


def unsigned(payload: dict[str, Any], header: dict[str, Any]) -> tuple[str, str]:
    """Header and payload segments, for tokens PyJWT refuses to make."""
    return (b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()))


def hs256_with(secret: bytes, payload: dict[str, Any]) -> str:
    h, p = unsigned(payload, {"alg": "HS256", "typ": "JWT"})
    sig = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64url(sig)}"


def event(path: str, kind: str = "UPLOAD", n: int = 0, pad: int = 0) -> dict[str, Any]:
    e: dict[str, Any] = {f: None for f in FIELDS}
    e.update(id=f"ev-{n}", source="DCACHE_BILLING", kind=kind, raw_type="transfer", time_us=1_700_000_000_000_000 + n,
             path=path, is_dir=False, status=0, groups=[], attrs={"pad": "x" * pad} if pad else {})
    return e


class AllowAll:
    """A grant that allows every event (hub tests that are not about authorisation)."""

    def allows(self, path: str, kind: str, source: str | None = None) -> bool:
        return True


@dataclass
class Frame:
    id: int | None  # the position (offset) the opaque id names, when the stream's id codec is known
    event: str
    data: Any
    raw_id: str | None = None


def position(ids: Any, raw: str) -> int | None:
    """The single-partition offset an opaque id names (its cursor minus one), via the hub's id codec."""
    cursor = ids.decode(raw) if ids is not None else None
    if cursor is None:
        return None
    assert len(cursor) == 1, cursor
    return int(next(iter(cursor.values()))) - 1


@dataclass
class Stream:
    """One SSE connection read by a background task into ``frames`` (comments into ``comments``)."""

    resp: aiohttp.ClientResponse
    ids_codec: Any = None
    frames: list[Frame] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        fields: dict[str, list[str]] = {}
        try:
            while True:
                raw = await self.resp.content.readline()
                if not raw:
                    break
                line = raw.decode("utf-8").rstrip("\n")
                assert "\r" not in line, f"raw CR inside a frame line: {line!r}"
                if line == "":
                    if fields:
                        raw_id = fields["id"][0] if "id" in fields else None
                        self.frames.append(Frame(
                            position(self.ids_codec, raw_id) if raw_id is not None else None,
                            fields.get("event", ["message"])[0],
                            json.loads("\n".join(fields.get("data", ["null"]))),
                            raw_id,
                        ))
                        fields = {}
                        self.changed.set()
                    continue
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    self.changed.set()
                    continue
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
        except (aiohttp.ClientError, ConnectionError):
            pass
        finally:
            self.ended.set()
            self.changed.set()

    def ids(self) -> list[int]:
        return [f.id for f in self.frames if f.id is not None]

    def raw_ids(self) -> list[str]:
        return [f.raw_id for f in self.frames if f.raw_id is not None]

    def last_raw_id(self) -> str:
        return [f.raw_id for f in self.frames if f.raw_id is not None][-1]

    async def wait_for(self, pred: Callable[[Stream], bool], timeout: float = 10) -> None:
        async def loop() -> None:
            while not pred(self):
                if self.ended.is_set():
                    raise AssertionError(f"stream ended early; frames={[(f.id, f.event) for f in self.frames]}")
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(loop(), timeout)

    async def until_idle(self, timeout: float = 10) -> None:
        """Wait for a keepalive comment after what was read so far: the server wrote it because it had
        nothing more for this client (nothing queued, nothing left to replay): a positive end marker."""
        seen = self.comments.count("keepalive")
        await self.wait_for(lambda s: s.comments.count("keepalive") > seen, timeout)

    async def until_id(self, last_id: int, timeout: float = 10) -> None:
        await self.wait_for(lambda s: last_id in s.ids(), timeout)

    async def close(self) -> None:
        self.resp.close()
        if self.task is not None:
            await self.task


class Server:
    def __init__(self, session: aiohttp.ClientSession, base: str, hub: EventHub, app: Any) -> None:
        self.session, self.base, self.hub, self.app = session, base, hub, app

    def after(self, offset: int) -> dict[str, str]:
        """A Last-Event-ID header resuming after ``offset`` (the opaque id of the frame at that offset)."""
        return {"Last-Event-ID": self.hub.id_after(offset)}

    async def get(self, url_path: str, token: str | None = None, headers: dict[str, str] | None = None, /,
                  **params: Any) -> aiohttp.ClientResponse:
        h = {"Accept": "text/event-stream", **(headers or {})}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        return await self.session.get(self.base + url_path, headers=h, params=_params(params))

    async def stream(self, token: str | None = None, headers: dict[str, str] | None = None, /,
                     **params: Any) -> Stream:
        resp = await self.get("/events", token, headers, **params)
        assert resp.status == 200, (resp.status, await resp.text())
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        s = Stream(resp, self.hub.ids)
        s.task = asyncio.create_task(s._read())
        await s.wait_for(lambda s: "connected" in s.comments)
        return s


def _params(params: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in params.items():
        for item in v if isinstance(v, list | tuple) else [v]:
            out.append((k, str(item)))
    return out


@asynccontextmanager
async def serving(hub: EventHub, authenticator: Any, authorizer: Any, **kw: Any) -> AsyncIterator[Server]:
    app = make_app(hub, authenticator, authorizer, **kw)
    runner, port = await start(app, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as session:
            yield Server(session, f"http://127.0.0.1:{port}", hub, app)
    finally:
        await runner.cleanup()
