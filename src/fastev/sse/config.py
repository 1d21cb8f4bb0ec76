"""The ``[sse]`` section of a ``fastev run`` / ``fastev serve`` config, and building a server from it.

```toml
[sse]
listen = "127.0.0.1:8787"
replay = 10000          # replay window, in events
keepalive_s = 15
client_queue = 1000     # frames queued per client before OVERFLOW
coalesce_ms = 10        # collect frames this long before writing: one send(2) per client per flush
metrics_readers = ["user:prometheus"]  # /metrics needs a token of one of these; unset: loopback peers only
overflow_grace_s = 5    # then a client that still does not read is dropped
max_unsent_bytes = 1048576  # most bytes one client's socket buffer (and queue, with replay = 0) may hold
max_connections_per_identity = 32  # open streams per identity; one more gets 429
header_timeout_s = 10   # a connection that has not sent its request headers by then is closed
max_unauthenticated = 1024  # connections waiting for request headers; beyond, the oldest is closed
id_key_file = "sse-id.key"  # key of the opaque event ids; created when missing. Servers of one topic share it.

[sse.auth]
mode = "acl"            # or "scopes" (with scope_base)
jwt_algorithms = ["RS256"]
jwt_public_keys = ["issuer.pem"]
issuer = "https://issuer.example"
audience = "fastev"
tokens_file = "service-tokens.txt"
```
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from fastev.acl import Acl
from fastev.sse.auth import Authenticator
from fastev.sse.authz import authorizer_from_config
from fastev.sse.hub import MAX_UNSENT_BYTES, EventHub
from fastev.sse.ids import EventIds, load_or_create_key
from fastev.sse.server import make_app

__all__ = ("SseConfig", "build")

SSE_KEYS = frozenset({"listen", "replay", "keepalive_s", "client_queue", "overflow_grace_s", "id_key_file",
                      "coalesce_ms", "metrics_readers", "auth", "max_unsent_bytes", "max_connections_per_identity",
                      "header_timeout_s", "max_unauthenticated"})


def _number(section: Mapping[str, Any], key: str, default: float, minimum: float, integer: bool) -> Any:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ValueError(f"sse.{key} must be {'an integer' if integer else 'a number'}")
    if value < minimum:
        raise ValueError(f"sse.{key} must be >= {minimum}")
    return value


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"sse.listen must be HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def _readers(section: Mapping[str, Any]) -> tuple[str, ...] | None:
    value = section.get("metrics_readers")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and ":" in v for v in value):
        raise ValueError('sse.metrics_readers must be a list of principals such as "user:prometheus"')
    return tuple(value)


def _key_file(section: Mapping[str, Any]) -> str | None:
    value = section.get("id_key_file")
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError("sse.id_key_file must be a file name")
    return value


@dataclass(frozen=True)
class SseConfig:
    host: str = "127.0.0.1"
    port: int = 8787
    replay: int = 10_000
    keepalive_s: float = 15
    client_queue: int = 1_000
    overflow_grace_s: float = 5
    auth: Mapping[str, Any] = field(default_factory=dict)
    id_key_file: str | None = None
    coalesce_ms: float = 10
    metrics_readers: tuple[str, ...] | None = None
    max_unsent_bytes: int = MAX_UNSENT_BYTES
    max_connections_per_identity: int = 32
    header_timeout_s: float = 10
    max_unauthenticated: int = 1024

    @classmethod
    def from_dict(cls, section: Mapping[str, Any]) -> SseConfig:
        unknown = set(section) - SSE_KEYS
        if unknown:
            raise ValueError(f"sse: unknown keys {sorted(unknown)}")
        host, port = parse_listen(str(section.get("listen", "127.0.0.1:8787")))
        auth = section.get("auth")
        if not isinstance(auth, Mapping):
            raise ValueError("sse.auth: a table is required (an SSE server never runs unauthenticated)")
        return cls(host, port, _number(section, "replay", 10_000, 0, True),
                   float(_number(section, "keepalive_s", 15, 0.01, False)),
                   _number(section, "client_queue", 1_000, 1, True),
                   float(_number(section, "overflow_grace_s", 5, 0, False)), dict(auth), _key_file(section),
                   float(_number(section, "coalesce_ms", 10, 0, False)), _readers(section),
                   _number(section, "max_unsent_bytes", MAX_UNSENT_BYTES, 64 * 1024, True),
                   _number(section, "max_connections_per_identity", 32, 1, True),
                   float(_number(section, "header_timeout_s", 10, 0.1, False)),
                   _number(section, "max_unauthenticated", 1024, 1, True))


def event_ids(cfg: SseConfig, stream: str, base_dir: str | Path | None = None) -> EventIds:
    """The id codec of ``stream``: keyed by ``sse.id_key_file`` (relative to ``base_dir``), else a key of
    this process only (ids then do not survive a restart)."""
    if cfg.id_key_file is None:
        return EventIds(None, stream)
    path = Path(cfg.id_key_file)
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    return EventIds(load_or_create_key(path), stream)


def build(cfg: SseConfig, acl: Acl | None, base_dir: str | Path | None = None,
          stream: str | None = None) -> tuple[EventHub, web.Application]:
    """The hub the pipeline publishes to, and the app serving it (run it with fastev.sse.server.start).

    ``stream`` names what positions refer to (a topic for ``fastev serve``); None: this process's own
    sequence, so ids of another process are never mistaken for positions of this one.
    """
    ids = event_ids(cfg, stream if stream is not None else f"process:{uuid.uuid4()}", base_dir)
    hub = EventHub(replay=cfg.replay, client_queue=cfg.client_queue, ids=ids, keepalive_s=cfg.keepalive_s,
                   coalesce_s=cfg.coalesce_ms / 1e3, max_unsent_bytes=cfg.max_unsent_bytes)
    authenticator = Authenticator.from_config(cfg.auth, base_dir)
    authorizer = authorizer_from_config(cfg.auth, acl)
    app = make_app(hub, authenticator, authorizer, keepalive_s=cfg.keepalive_s,
                   overflow_grace_s=cfg.overflow_grace_s, metrics_readers=cfg.metrics_readers,
                   header_timeout_s=cfg.header_timeout_s, max_unauthenticated=cfg.max_unauthenticated,
                   max_connections_per_identity=cfg.max_connections_per_identity)
    return hub, app
