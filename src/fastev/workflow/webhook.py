"""The ``webhook`` action: a storage event as an HTTP request in the CloudEvents HTTP binding.

Modes (cloudevents/spec http-protocol-binding.md §3): ``structured`` sends the CloudEvent as the
JSON body (``application/cloudevents+json``); ``binary`` sends the event JSON (docs/formats.md §1)
as the body and the attributes as ``ce-*`` headers; a batch is a JSON array of structured events
(``application/cloudevents-batch+json``) whose 2xx body ``{"failed": [ids]}`` retries just those.

Outcomes: 2xx succeeded (a JSON object body is the output); 408, 429, 5xx and connection errors
retry (``Retry-After`` honoured, at most an hour); redirects are not followed (a receiver must not
steer signed events elsewhere) and, like other 4xx, are rejected at once. Nothing here raises for a
failed delivery: every failure is an ``Attempt``.
"""
from __future__ import annotations

import asyncio
import hmac
import os
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from yarl import URL

from ..errors import ConfigError
from ..kafka.cloudevents import rfc3339_us, storage_source_uri
from .attempt import Attempt, Job

__all__ = ("WebhookRunner", "cloudevent", "cloudevent_attributes", "parse_retry_after", "MODES", "METHODS",
           "RETRY_AFTER_MAX_S", "MAX_RESPONSE_BYTES", "SIGNATURE_HEADER")

MODES = ("structured", "binary")
METHODS = ("POST", "PUT", "PATCH")
RETRY_AFTER_MAX_S = 3600.0
MAX_RESPONSE_BYTES = 1 << 20     # a receiver's answer is an output document, not a download
SIGNATURE_HEADER = "X-Fastev-Signature"
TYPE_PREFIX = "org.fastev.storage."

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
_RETRY_STATUSES = frozenset({408, 429})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Rendered values that could end a header or the request line (CR, LF, NUL and the other controls).
_HEADER_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_URL_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
# §3.1.3.2: space, '"', '%' and anything outside U+0021-U+007E are percent-encoded in ce-* headers.
_CE_HEADER_PLAIN = re.compile(r"[!#$&-~]*")
_TOKEN = re.compile(r"[!-~]+")
_CE_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')

_sources: dict[str, str] = {}
_types: dict[str, str] = {}


def cloudevent_attributes(event: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvents context attributes of a storage event (everything but ``data``): ``subject``
    only when the event has a path, ``time`` only when ``time_us`` is representable (years 1-9999)."""
    source, kind = event["source"], event["kind"]
    uri = _sources.get(source)
    if uri is None:
        uri = _sources[source] = storage_source_uri(str(source))
    ce_type = _types.get(kind)
    if ce_type is None:
        ce_type = _types[kind] = TYPE_PREFIX + str(kind)
    attrs: dict[str, Any] = {"specversion": "1.0", "id": event["id"], "source": uri, "type": ce_type}
    if event.get("path"):
        attrs["subject"] = event["path"]
    try:
        attrs["time"] = rfc3339_us(event["time_us"])
    except (TypeError, ValueError):
        pass
    attrs["datacontenttype"] = "application/json"
    return attrs


def cloudevent(job: Job) -> dict[str, Any]:
    """The structured CloudEvent of a job's storage event: attributes plus ``data`` = the event."""
    ce = cloudevent_attributes(job.event)
    ce["data"] = job.event
    return ce


def _structured_body(job: Job) -> bytes:
    # Splice the job's event JSON in as ``data`` rather than serialising the event a second time.
    head = orjson.dumps(cloudevent_attributes(job.event))
    return b"".join((head[:-1], b',"data":', job.event_json, b"}"))


def _ce_header(value: str) -> str:
    return value if _CE_HEADER_PLAIN.fullmatch(value) else quote(value, safe=_CE_HEADER_SAFE)


def _binary_headers(event: dict[str, Any], headers: dict[str, str]) -> None:
    attrs = cloudevent_attributes(event)
    for name in ("specversion", "id", "source", "type", "subject", "time"):
        value = attrs.get(name)
        if value is not None:
            headers["ce-" + name] = _ce_header(str(value))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` (RFC 9110 §10.2.3: delta-seconds or an HTTP-date) as seconds from ``now``,
    0 for a date in the past, at most ``RETRY_AFTER_MAX_S``; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000": RFC 5322's "UTC, source zone unknown"
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)


class _Refused(Exception):
    """A request that must not be sent (bad rendering, unusable URL or header): dead, rejected."""


class _WatchedFile:
    """A small secret file, re-read when it changes (mtime, size or inode), so renewals are used."""

    __slots__ = ("path", "key", "convert", "_stamp", "_value")

    def __init__(self, path: Path, key: str, convert: Callable[[bytes], Any]) -> None:
        self.path, self.key, self.convert = path, key, convert
        self._stamp: tuple[int, int, int] | None = None
        self._value: Any = None

    def value(self) -> Any:
        """The converted content; ValueError naming the key when it cannot be read or used."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp != self._stamp:
                self._value = self.convert(self.path.read_bytes().strip())
                self._stamp = stamp
        except OSError as exc:
            raise ValueError(f"{self.key} {self.path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ValueError(f"{self.key} {self.path}: {exc}") from None
        return self._value


def _bearer(data: bytes) -> str:
    token = data.decode("ascii", "replace")
    if not _TOKEN.fullmatch(token):
        raise ValueError("is not one line of printable ASCII without spaces")
    return "Bearer " + token


def _secret(data: bytes) -> bytes:
    if not data:
        raise ValueError("is empty")
    return data


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text[:limit].split())


def _exception_detail(exc: BaseException) -> str:
    return _one_line(f"{type(exc).__name__}: {exc}", 300)


def _status_detail(status: int, body: bytes) -> str:
    text = _one_line(body[:200].decode("utf-8", "replace"))
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"


def _json_object(body: bytes) -> dict[str, Any] | None:
    if body.lstrip()[:1] != b"{":
        return None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _copy(a: Attempt) -> Attempt:
    return Attempt(a.outcome, a.reason, a.output, a.exit_code, a.http_status, a.retry_after_s, a.detail)


class _Response:
    __slots__ = ("status", "body", "complete", "retry_after")

    def __init__(self, status: int, body: bytes, complete: bool, retry_after: str | None) -> None:
        self.status, self.body, self.complete, self.retry_after = status, body, complete, retry_after


def _failure(r: _Response) -> Attempt:
    """The attempt of a non-2xx response."""
    status, detail = r.status, _status_detail(r.status, r.body)
    if status in _RETRY_STATUSES or 500 <= status <= 599:
        return Attempt("retry", "failed", http_status=status, retry_after_s=parse_retry_after(r.retry_after),
                       detail=detail)
    return Attempt("dead", "rejected", http_status=status, detail=detail)


class WebhookRunner:
    """Runs the webhook action of one workflow; one connection pool (``concurrency`` keep-alive
    connections) made on first use inside the running loop."""

    __slots__ = ("url", "method", "mode", "headers", "token", "secret", "timeout_s", "batch_max_events",
                 "batch_max_wait_ms", "concurrency", "_timeout", "_session", "_urls", "_content_type")

    def __init__(self, *, url: Callable[[Job], str], method: str = "POST", mode: str = "structured",
                 headers: Sequence[tuple[str, Callable[[Job], str]]] = (), token_file: Path | None = None,
                 hmac_secret_file: Path | None = None, timeout_s: float = 30.0,
                 batch_max_events: int | None = None, batch_max_wait_ms: int = 200, concurrency: int = 64) -> None:
        if mode not in MODES:
            raise ConfigError(f"webhook mode: {mode!r} is not one of {', '.join(MODES)}")
        if method.upper() not in METHODS:
            raise ConfigError(f"webhook method: {method!r} is not one of {', '.join(METHODS)}")
        if not timeout_s > 0:
            raise ConfigError(f"webhook timeout_s: {timeout_s!r} must be > 0")
        if concurrency < 1:
            raise ConfigError(f"webhook concurrency: {concurrency!r} must be >= 1")
        if batch_max_events is not None and batch_max_events < 1:
            raise ConfigError(f"webhook batch.max_events: {batch_max_events!r} must be >= 1")
        # Headers fastev sets itself may not be overridden: they carry the event, its signature and the token.
        reserved = {"content-type", "content-length", "transfer-encoding", "host", "connection",
                    SIGNATURE_HEADER.lower()}
        if token_file is not None:
            reserved.add("authorization")
        for name, _ in headers:
            if not _HEADER_NAME.fullmatch(name):
                raise ConfigError(f"webhook headers: {name!r} is not a valid HTTP header name")
            if name.lower() in reserved or name.lower().startswith("ce-"):
                raise ConfigError(f"webhook headers: {name!r} is set by fastev and cannot be configured")
        self.url = url
        self.method = method.upper()
        self.mode = mode
        self.headers = tuple(headers)
        self.token = None if token_file is None else _WatchedFile(Path(token_file), "token_file", _bearer)
        self.secret = None if hmac_secret_file is None else _WatchedFile(Path(hmac_secret_file),
                                                                          "hmac_secret_file", _secret)
        self.timeout_s = float(timeout_s)
        self.batch_max_events = batch_max_events
        self.batch_max_wait_ms = batch_max_wait_ms
        self.concurrency = concurrency
        self._timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}
        self._content_type = STRUCTURED if mode == "structured" else "application/json"

    # -- requests -------------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self.concurrency, keepalive_timeout=30)
            # No cookies (receivers must not be able to keep state in the runner), no proxy from the environment.
            session = self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                                            cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
        return session

    def _target(self, job: Job) -> tuple[URL, dict[str, str]]:
        """The rendered URL and configured headers of a job; _Refused when they must not be sent."""
        try:
            text = self.url(job)
            headers = {name: render(job) for name, render in self.headers}
        except ValueError as exc:
            raise _Refused(f"cannot render the request: {exc}") from None
        url = self._urls.get(text)
        if url is None:
            url = self._parse_url(text)
        for name, value in headers.items():
            if _HEADER_UNSAFE.search(value):
                raise _Refused(f"header {name}: rendered value contains a control character (CR, LF, NUL...)")
        return url, headers

    def _parse_url(self, text: str) -> URL:
        if _URL_UNSAFE.search(text):
            raise _Refused("url: rendered value contains a control character (CR, LF, NUL...)")
        try:
            url = URL(text)
        except (TypeError, ValueError) as exc:
            raise _Refused(f"url: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise _Refused(f"url: {text[:200]!r} is not an absolute http(s) URL")
        if len(self._urls) >= 1024:  # rendered per-path URLs must not grow the cache without bound
            self._urls.clear()
        self._urls[text] = url
        return url

    def _sign(self, headers: dict[str, str], body: bytes) -> None:
        if self.token is not None:
            headers["Authorization"] = self.token.value()
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = "sha256=" + hmac.digest(self.secret.value(), body, "sha256").hex()

    async def _send(self, url: URL, headers: dict[str, str], body: bytes) -> _Response | Attempt:
        """One request; the response, or the attempt of a request that got none (or timed out)."""
        status: int | None = None
        try:
            async with self._client().request(self.method, url, data=body, headers=headers,
                                              allow_redirects=False) as resp:
                status = resp.status
                length = resp.content_length
                if length is not None and length <= MAX_RESPONSE_BYTES:
                    return _Response(status, await resp.read(), True, resp.headers.get("Retry-After"))
                data, complete = await _read_capped(resp.content)
                return _Response(status, data, complete, resp.headers.get("Retry-After"))
        except TimeoutError as exc:  # before aiohttp.ClientError: ServerTimeoutError is both
            return Attempt("retry", "timeout", http_status=status,
                           detail=f"no complete answer within {self.timeout_s:g} s ({type(exc).__name__})")
        except aiohttp.InvalidURL as exc:
            return Attempt("dead", "rejected", detail=_exception_detail(exc))
        except (aiohttp.ClientError, OSError) as exc:  # refused, reset, DNS, malformed response
            return Attempt("retry", "failed", http_status=status, detail=_exception_detail(exc))
        except ValueError as exc:  # a request aiohttp refuses to write: sending it again changes nothing
            return Attempt("dead", "rejected", detail=_exception_detail(exc))

    # -- the action interface -------------------------------------------------------------------

    async def run(self, job: Job) -> Attempt:
        try:
            url, headers = self._target(job)
            if self.mode == "structured":
                body = _structured_body(job)
            else:
                body = job.event_json
                _binary_headers(job.event, headers)
            headers["Content-Type"] = self._content_type
            self._sign(headers, body)
        except (_Refused, ValueError) as exc:  # ValueError: token / secret file unusable right now
            return _refusal(exc)
        r = await self._send(url, headers, body)
        if isinstance(r, Attempt):
            return r
        if 200 <= r.status <= 299:
            output = _json_object(r.body) if r.complete else None
            return Attempt("succeeded", output=output, http_status=r.status, detail=f"HTTP {r.status}")
        return _failure(r)

    async def run_batch(self, jobs: list[Job]) -> list[Attempt]:
        """One request per distinct rendered (URL, headers) among ``jobs``; one attempt per job, in order."""
        results: list[Attempt | None] = [None] * len(jobs)
        groups: dict[tuple[URL, tuple[tuple[str, str], ...]], list[int]] = {}
        for i, job in enumerate(jobs):
            try:
                url, headers = self._target(job)
            except _Refused as exc:
                results[i] = _refusal(exc)
                continue
            groups.setdefault((url, tuple(headers.items())), []).append(i)
        sends = [self._send_batch(url, dict(headers), [jobs[i] for i in members], members, results)
                 for (url, headers), members in groups.items()]
        if len(sends) == 1:
            await sends[0]
        elif sends:
            await asyncio.gather(*sends)
        return [r if r is not None else Attempt("retry", "failed", detail="not sent") for r in results]

    async def _send_batch(self, url: URL, headers: dict[str, str], jobs: list[Job], members: list[int],
                          results: list[Attempt | None]) -> None:
        body = b"[" + b",".join([_structured_body(job) for job in jobs]) + b"]"
        headers["Content-Type"] = BATCH
        try:
            self._sign(headers, body)
        except ValueError as exc:
            r: _Response | Attempt = _refusal(exc)
        else:
            r = await self._send(url, headers, body)
        if isinstance(r, Attempt) or not 200 <= r.status <= 299:
            shared = r if isinstance(r, Attempt) else _failure(r)
            for i in members:
                results[i] = _copy(shared)
            return
        failed = _failed_ids(r.body) if r.complete else frozenset()
        retry_after = parse_retry_after(r.retry_after) if failed else None
        for i, job in zip(members, jobs, strict=True):
            if job.event["id"] in failed:
                results[i] = Attempt("retry", "failed", http_status=r.status, retry_after_s=retry_after,
                                     detail=f"HTTP {r.status}: the receiver listed the event as failed")
            else:
                results[i] = Attempt("succeeded", http_status=r.status, detail=f"HTTP {r.status}")

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _refusal(exc: BaseException) -> Attempt:
    if isinstance(exc, _Refused):
        return Attempt("dead", "rejected", detail=_one_line(str(exc), 300))
    return Attempt("retry", "failed", detail=_one_line(str(exc), 300))  # a secret file: may be fixed or renewed


def _failed_ids(body: bytes) -> frozenset[str]:
    """The ids of a batch answer ``{"failed": ["<event id>", ...]}``; anything else lists none."""
    answer = _json_object(body)
    failed = None if answer is None else answer.get("failed")
    if not isinstance(failed, list):
        return frozenset()
    return frozenset(x for x in failed if isinstance(x, str))


async def _read_capped(stream: aiohttp.StreamReader) -> tuple[bytes, bool]:
    """At most MAX_RESPONSE_BYTES of a body of unknown or excessive length, and whether that was all."""
    data = bytearray()
    async for chunk in stream.iter_chunked(1 << 16):
        data += chunk
        if len(data) > MAX_RESPONSE_BYTES:
            return bytes(data[:MAX_RESPONSE_BYTES]), False
    return bytes(data), True
