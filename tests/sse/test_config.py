"""The [sse] section: parsed strictly, and a server built from it serves over HTTP."""
from __future__ import annotations

import tomllib
from pathlib import Path

import aiohttp  # noqa: I001
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.sse.config import SseConfig, build, parse_listen
from fastev.sse.server import start
from tests.sse.helpers import AUDIENCE, ISSUER, claims, event, position, rs256, run


def test_sse_section_builds_a_working_scope_mode_server(tmp_path: Path, pem_file: Path,
                                                        signing_key: rsa.RSAPrivateKey) -> None:
    text = f"""
[sse]
listen = "127.0.0.1:0"
replay = 3
keepalive_s = 5
client_queue = 10

[sse.auth]
mode = "scopes"
scope_base = "/store"
jwt_algorithms = ["RS256"]
jwt_public_keys = ["{pem_file.name}"]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
"""
    cfg = SseConfig.from_dict(tomllib.loads(text)["sse"])
    assert (cfg.host, cfg.port, cfg.replay, cfg.keepalive_s, cfg.client_queue) == ("127.0.0.1", 0, 3, 5.0, 10)
    hub, app = build(cfg, None, base_dir=pem_file.parent)
    for i in range(1, 6):
        hub.publish(event(f"/store/{'a' if i % 2 else 'b'}/f{i}"), i)

    async def main() -> list[str]:
        runner, port = await start(app, cfg.host, cfg.port)
        try:
            token = rs256(signing_key, claims(scope="storage.read:/a"))
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{port}/events"
                async with session.get(url, params={"authz": token, "lastEventId": hub.id_after(1)}) as resp:
                    assert resp.status == 200
                    lines: list[str] = []
                    while len([x for x in lines if x.startswith("id:")]) < 2:
                        lines.append((await resp.content.readline()).decode().strip())
                    return lines
        finally:
            await runner.cleanup()

    lines = run(main())
    assert "event: EVENT_LOSS" in lines  # id 2 fell out of the 3-event window
    assert [position(hub.ids, x[4:]) for x in lines if x.startswith("id:")] == [3, 5]


@pytest.mark.parametrize("section, message", [
    ({"listen": "127.0.0.1:8787"}, "sse.auth"),
    ({"listen": "nope", "auth": {}}, "HOST:PORT"),
    ({"replay": -1, "auth": {}}, "replay"),
    ({"client_queue": 0, "auth": {}}, "client_queue"),
    ({"keepalive_s": "15", "auth": {}}, "keepalive_s"),
    ({"bogus": 1, "auth": {}}, "unknown"),
    ({"metrics_readers": "user:prometheus", "auth": {}}, "metrics_readers"),
    ({"metrics_readers": ["prometheus"], "auth": {}}, "metrics_readers"),
    ({"coalesce_ms": -1, "auth": {}}, "coalesce_ms"),
    ({"id_key_file": "", "auth": {}}, "id_key_file"),
    ({"max_unsent_bytes": 1000, "auth": {}}, "max_unsent_bytes"),
    ({"max_connections_per_identity": 0, "auth": {}}, "max_connections_per_identity"),
    ({"header_timeout_s": 0, "auth": {}}, "header_timeout_s"),
    ({"max_unauthenticated": 0, "auth": {}}, "max_unauthenticated"),
])
def test_bad_sections_are_refused(section: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SseConfig.from_dict(section)


def test_limits_reach_the_hub_and_the_app(pem_file: Path) -> None:
    from fastev.sse.server import GUARD

    cfg = SseConfig.from_dict({"max_unsent_bytes": 65536, "header_timeout_s": 2.5, "max_unauthenticated": 7,
                               "auth": {"mode": "scopes", "scope_base": "/", "jwt_algorithms": ["RS256"],
                                        "jwt_public_keys": [str(pem_file)]}})
    hub, app = build(cfg, None)
    assert hub.max_unsent_bytes == 65536
    assert (app[GUARD].header_timeout_s, app[GUARD].max_waiting) == (2.5, 7)
    assert SseConfig().max_connections_per_identity == cfg.max_connections_per_identity == 32


def test_listen_forms() -> None:
    assert parse_listen("[::1]:8787") == ("::1", 8787)
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)


def test_acl_mode_needs_an_acl(pem_file: Path) -> None:
    cfg = SseConfig.from_dict({"auth": {"mode": "acl", "jwt_algorithms": ["RS256"],
                                        "jwt_public_keys": [str(pem_file)]}})
    with pytest.raises(ValueError, match="needs an ACL"):
        build(cfg, None)
