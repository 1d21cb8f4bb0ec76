"""Authentication over real HTTP: every bad token is a 401 with WWW-Authenticate; good ones stream."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.acl import Acl
from fastev.sse import AclAuthorizer, Authenticator, EventHub, ScopeAuthorizer, token_hash
from fastev.sse.auth import AuthError
from tests.sse.helpers import (
    AUDIENCE,
    ISSUER,
    b64url,
    claims,
    event,
    hs256_with,
    public_pem,
    rs256,
    run,
    serving,
    unsigned,
)

ACL_TEXT = '[[allow]]\nprincipals = ["*"]\npaths = ["/data"]\n'


def rs_config(pem: Path, **extra: Any) -> dict[str, Any]:
    return {"mode": "acl", "jwt_algorithms": ["RS256"], "jwt_public_keys": [str(pem)],
            "issuer": ISSUER, "audience": AUDIENCE, **extra}


def bad_tokens(key: rsa.RSAPrivateKey, other: rsa.RSAPrivateKey) -> dict[str, str | None]:
    good = rs256(key, claims())
    h, p, s = good.split(".")
    tampered_sig = f"{h}.{p}.{s[:-6]}{'AAAAAA' if s[-6:] != 'AAAAAA' else 'BBBBBB'}"
    # Payload swapped for one naming another subject, signature kept.
    _, p2 = unsigned(claims("mallory", groups=["/admin"]), {})
    none_h, none_p = unsigned(claims(), {"alg": "none", "typ": "JWT"})
    none_upper_h, _ = unsigned(claims(), {"alg": "None", "typ": "JWT"})
    return {
        "missing": None,
        "alg-none": f"{none_h}.{none_p}.",
        "alg-None": f"{none_upper_h}.{none_p}.",
        "hs256-with-public-key-as-secret": hs256_with(public_pem(key), claims()),
        "hs256-with-other-secret": hs256_with(b"secret", claims()),
        "expired": rs256(key, claims(exp=1_000_000_000, nbf=999_999_000)),
        "not-yet-valid": rs256(key, claims(nbf=4_000_000_000, exp=4_000_001_000)),
        "wrong-audience": rs256(key, claims(aud="someone-else")),
        "no-audience": rs256(key, claims(aud=None)),
        "wrong-issuer": rs256(key, claims(iss="https://evil.test")),
        "no-exp": rs256(key, {k: v for k, v in claims().items() if k != "exp"}),
        "no-sub": rs256(key, {k: v for k, v in claims().items() if k != "sub"}),
        "tampered-signature": tampered_sig,
        "tampered-payload": f"{h}.{p2}.{s}",
        "signed-by-other-key": rs256(other, claims()),
        "garbage": "not-a-token",
        "three-garbage-segments": "a.b.c",
    }




@pytest.fixture()
def authenticator(pem_file: Path) -> Authenticator:
    # "none" listed in the config is dropped regardless.
    return Authenticator.from_config(rs_config(pem_file, jwt_algorithms=["RS256", "none"]))


EXPECTED = {
    "missing": None, "alg-none": "algorithm not accepted", "alg-None": "algorithm not accepted",
    "hs256-with-public-key-as-secret": "algorithm not accepted", "hs256-with-other-secret": "algorithm not accepted",
    "expired": "token expired", "not-yet-valid": "not yet valid", "wrong-audience": "wrong audience",
    "no-audience": "missing claim aud", "wrong-issuer": "wrong issuer", "no-exp": "missing claim exp",
    "no-sub": "missing claim sub", "tampered-signature": "bad signature", "tampered-payload": "bad signature",
    "signed-by-other-key": "bad signature", "garbage": "unknown token", "three-garbage-segments": "malformed token",
}
NAMES = ["missing", "alg-none", "alg-None", "hs256-with-public-key-as-secret", "hs256-with-other-secret", "expired",
         "not-yet-valid", "wrong-audience", "no-audience", "wrong-issuer", "no-exp", "no-sub", "tampered-signature",
         "tampered-payload", "signed-by-other-key", "garbage", "three-garbage-segments"]


def test_every_bad_token_is_401_over_http(authenticator: Authenticator, signing_key: rsa.RSAPrivateKey,
                                          other_key: rsa.RSAPrivateKey) -> None:
    tokens = bad_tokens(signing_key, other_key)
    assert sorted(tokens) == sorted(NAMES)
    hub = EventHub(replay=10)
    hub.publish(event("/data/x"), 1)

    async def main() -> None:
        async with serving(hub, authenticator, AclAuthorizer(Acl.from_text(ACL_TEXT))) as srv:
            for name, token in tokens.items():
                for via in ("header", "query"):
                    if via == "header":
                        resp = await srv.get("/events", token, **{"from": "earliest"})
                    else:
                        params = {"from": "earliest"} | ({"authz": token} if token else {})
                        resp = await srv.get("/events", None, **params)
                    body = await resp.text()
                    assert resp.status == 401, (name, via, resp.status, body)
                    www = resp.headers["WWW-Authenticate"]
                    assert www.startswith("Bearer "), (name, www)
                    if token is None:
                        assert "error=" not in www
                    else:
                        assert 'error="invalid_token"' in www, (name, www)
                        assert EXPECTED[name] in www.partition('error_description=')[2], (name, www)
                    assert "/data/x" not in body
            # And the good token, both ways, streams the event.
            good = rs256(signing_key, claims())
            for s in (await srv.stream(good, **{"from": "earliest"}),
                      await srv.stream(None, authz=good, **{"from": "earliest"})):
                await s.until_id(1)
                assert s.frames[0].data["path"] == "/data/x"
                await s.close()
    run(main())


def test_hs256_config_accepts_hs256_and_refuses_rs256(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    (tmp_path / "secret").write_bytes(b"s3cret-value-that-is-long-enough-for-hs256\n")
    auth = Authenticator.from_config({"jwt_algorithms": ["HS256"], "jwt_secret_file": "secret",
                                      "issuer": ISSUER, "audience": AUDIENCE}, base_dir=tmp_path)
    secret = b"s3cret-value-that-is-long-enough-for-hs256"
    ok = auth.authenticate(jwt.encode(claims("svc", groups=["/atlas"]), secret, algorithm="HS256"))
    assert ok.identity.user == "svc" and ok.identity.groups == ("/atlas",)
    with pytest.raises(AuthError):
        auth.authenticate(rs256(signing_key, claims()))
    # Both families configured: the RSA public key used as an HMAC secret is still refused.
    both = Authenticator(algorithms=["RS256", "HS256"], public_keys=[signing_key.public_key()],
                         secret=b"s3cret-value-that-is-long-enough-for-hs256", issuer=ISSUER, audience=AUDIENCE)
    assert both.authenticate(rs256(signing_key, claims())).identity.user == "alice"
    with pytest.raises(AuthError, match="bad signature"):
        both.authenticate(hs256_with(public_pem(signing_key), claims()))
    with pytest.raises(AuthError):
        auth.authenticate(jwt.encode(claims(), b"other-secret-that-is-long-enough-for-hs256", algorithm="HS256"))


def test_jwks_file_with_kid(tmp_path: Path, signing_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    jwks = {"keys": []}
    for kid, key in (("k1", other_key), ("k2", signing_key)):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update(kid=kid, alg="RS256", use="sig")
        jwks["keys"].append(jwk)
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    auth = Authenticator.from_config({"jwt_algorithms": ["RS256"], "jwks_file": "jwks.json", "issuer": ISSUER,
                                      "audience": AUDIENCE}, base_dir=tmp_path)
    r = auth.authenticate(rs256(signing_key, claims("bob", **{"wlcg.groups": ["/cms"]}), headers={"kid": "k2"}))
    assert r.identity.user == "bob" and r.identity.groups == ("/cms",)
    assert auth.authenticate(rs256(signing_key, claims())).identity.user == "alice"  # no kid: every key tried
    with pytest.raises(AuthError):  # kid names the other key
        auth.authenticate(rs256(signing_key, claims(), headers={"kid": "k1"}))


def test_claims_groups_scopes_expiry(pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator.from_config(rs_config(pem_file))
    c = claims("carol", groups=["/atlas", "/cms"], scope="storage.read:/atlas openid")
    r = auth.authenticate(rs256(signing_key, c))
    assert r.identity.user == "carol" and r.identity.groups == ("/atlas", "/cms")
    assert r.scopes == ("storage.read:/atlas", "openid") and r.expires_at == c["exp"] and r.kind == "jwt"


def test_static_service_tokens_file(tmp_path: Path, pem_file: Path) -> None:
    secret = "svc-" + b64url(b"0123456789abcdef0123456789")
    (tmp_path / "tokens").write_text(
        f"# service tokens\n{token_hash(secret)} user:svc-photon group:photon scope:storage.read:/photon\n\n")
    auth = Authenticator.from_config(rs_config(pem_file, tokens_file=str(tmp_path / "tokens")))
    r = auth.authenticate(secret)
    assert r.identity.user == "svc-photon" and r.identity.groups == ("photon",)
    assert r.scopes == ("storage.read:/photon",) and r.expires_at is None and r.kind == "static"
    with pytest.raises(AuthError):
        auth.authenticate(secret + "x")
    with pytest.raises(AuthError):
        auth.authenticate(token_hash(secret))  # the stored hash is not itself a token

    hub = EventHub(replay=10)
    hub.publish(event("/data/photon/a"), 1)
    hub.publish(event("/data/other/b"), 2)
    hub.publish(event("/data/photon/c"), 3)

    async def main() -> None:
        async with serving(hub, auth, ScopeAuthorizer("/data")) as srv:
            s = await srv.stream(secret, **{"from": "earliest"})
            await s.until_id(3)
            assert s.ids() == [1, 3]
            await s.close()
    run(main())


def test_bad_config_is_refused(pem_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Authenticator.from_config(rs_config(pem_file, bogus=1))
    with pytest.raises(ValueError):
        Authenticator.from_config({"jwt_algorithms": ["HS256"]})  # no secret
    with pytest.raises(ValueError):
        Authenticator.from_config({"jwt_algorithms": ["none"]})  # nothing left
    with pytest.raises(ValueError):
        Authenticator.from_config({"jwt_algorithms": "RS256", "jwt_public_keys": [str(pem_file)]})
    (tmp_path / "t").write_text("nothex user:x\n")
    with pytest.raises(ValueError):
        Authenticator.from_config({"tokens_file": str(tmp_path / "t")})


def test_metrics_need_a_reader_token_when_readers_are_configured(tmp_path: Path) -> None:
    """/metrics counts all events: with sse.metrics_readers only those principals read it (else: loopback)."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{token_hash('prom-token')} user:prometheus\n{token_hash('alice-token')} user:alice\n")
    auth = Authenticator.from_config({"tokens_file": str(tokens)})
    hub = EventHub(replay=10)

    async def main() -> list[int]:
        statuses = []
        async with serving(hub, auth, ScopeAuthorizer("/"), metrics_readers=["user:prometheus"]) as srv:
            for token in (None, "alice-token", "prom-token"):
                resp = await srv.get("/metrics", token)
                statuses.append(resp.status)
                if resp.status == 200:
                    assert "fastev_sse_clients_connected" in await resp.text()
                elif resp.status == 401:
                    assert "WWW-Authenticate" in resp.headers
                resp.release()
        async with serving(hub, auth, ScopeAuthorizer("/")) as srv:  # no readers: loopback peers only
            resp = await srv.get("/metrics")
            statuses.append(resp.status)
            resp.release()
        return statuses

    assert run(main()) == [401, 403, 200, 200]
