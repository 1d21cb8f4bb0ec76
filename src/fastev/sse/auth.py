"""Authentication for the SSE endpoint: JWTs (pinned algorithms) and static service tokens.

Configured by an ``[sse.auth]``-shaped mapping:

``jwt_algorithms``   list of accepted JWS algorithms, e.g. ``["RS256"]``. Pinned here,
                     never taken from the token; ``none`` is always refused.
``jwt_public_keys``  list of PEM files (public keys or certificates).
``jwks_file``        a JWKS (JSON Web Key Set) file; a token's ``kid`` selects its key.
``jwt_secret_file``  HMAC secret (HS256/384/512), the file's bytes minus a trailing newline.
``issuer``           required ``iss``.
``audience``         required ``aud`` (string or list: any of them).
``tokens_file``      static service tokens: lines ``<sha256 hex of the token> <principal>...``,
                     principals ``user:NAME``, ``uid:N``, ``group:NAME`` and ``scope:SCOPE``;
                     ``#`` starts a comment. Only hashes are stored.
``leeway_s``         clock skew allowed on exp/nbf (default 0).

Identity = ``sub``; groups from ``groups`` and ``wlcg.groups``; the ``scope`` claim
(space-separated, or a list in ``scp``) is kept for the ``scopes`` authorisation mode.
"""
from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from fastev.acl import Identity, identity_from_principals
from fastev.errors import AclError

__all__ = ("AuthError", "AuthResult", "Authenticator", "AUTH_KEYS", "token_hash")

AUTH_KEYS: frozenset[str] = frozenset({
    "mode", "scope_base",  # read by fastev.sse.authz
    "jwt_algorithms", "jwt_public_keys", "jwks_file", "jwt_secret_file",
    "issuer", "audience", "tokens_file", "leeway_s",
})

_HMAC_ALGS = frozenset({"HS256", "HS384", "HS512"})
_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "RS": (rsa.RSAPublicKey,), "PS": (rsa.RSAPublicKey,), "ES": (ec.EllipticCurvePublicKey,),
    "Ed": (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey),
}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SAFE_DESC = re.compile(r'[^A-Za-z0-9 ._:;,()/+-]')


class AuthError(Exception):
    """Authentication failed: the HTTP answer is 401 with :meth:`www_authenticate`."""

    def __init__(self, description: str, *, missing: bool = False) -> None:
        super().__init__(description)
        self.description = description
        self.missing = missing  # no credentials at all: RFC 6750 says no error code then

    def www_authenticate(self, realm: str = "fastev") -> str:
        if self.missing:
            return f'Bearer realm="{realm}"'
        desc = _SAFE_DESC.sub("_", self.description)[:200]
        return f'Bearer realm="{realm}", error="invalid_token", error_description="{desc}"'


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Who presented the token, what it grants (scopes) and when it stops being valid."""

    identity: Identity
    scopes: tuple[str, ...] = ()
    expires_at: float | None = None  # epoch seconds; None: no expiry (static tokens)
    kind: str = "jwt"  # "jwt" or "static"


def _alg_family(alg: str) -> str:
    return "Ed" if alg == "EdDSA" else alg[:2]


def _load_pem_key(path: Path) -> Any:
    data = path.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return load_pem_public_key(data)


def _parse_tokens_file(path: Path) -> dict[str, AuthResult]:
    tokens: dict[str, AuthResult] = {}
    for lineno, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        digest, *spec = line.split()
        digest = digest.lower()
        if not _HEX64.fullmatch(digest):
            raise ValueError(f"{path}:{lineno}: first field must be a SHA-256 hex digest")
        scopes = tuple(s[len("scope:"):] for s in spec if s.startswith("scope:"))
        principals = [s for s in spec if not s.startswith("scope:")]
        if not principals and not scopes:
            raise ValueError(f"{path}:{lineno}: a token needs at least one principal or scope")
        try:
            identity = identity_from_principals(principals)
        except AclError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from None
        tokens[digest] = AuthResult(identity, scopes, None, "static")
    return tokens


class Authenticator:
    """Verifies a bearer token and returns an :class:`AuthResult`, or raises :class:`AuthError`."""

    def __init__(
        self,
        *,
        algorithms: Iterable[str] = (),
        public_keys: Iterable[Any] = (),
        jwks: Mapping[str, Any] | None = None,
        secret: bytes | None = None,
        issuer: str | None = None,
        audience: str | list[str] | None = None,
        static_tokens: Mapping[str, AuthResult] | None = None,
        leeway_s: float = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        algs = [a for a in algorithms if isinstance(a, str)]
        unknown = [a for a in algs if a.lower() != "none" and a not in jwt.algorithms.get_default_algorithms()]
        if unknown:
            raise ValueError(f"sse.auth.jwt_algorithms: unknown algorithms {unknown}")
        # "none" is dropped whatever the config says.
        self.algorithms: frozenset[str] = frozenset(a for a in algs if a.lower() != "none")
        self._public_keys = list(public_keys)
        self._jwks: dict[str, Any] = dict(jwks or {})  # kid -> key object
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self._static = {k.lower(): v for k, v in (static_tokens or {}).items()}
        self.leeway_s = leeway_s
        self._clock = clock
        if self.algorithms & _HMAC_ALGS and not secret:
            raise ValueError("sse.auth: an HS* algorithm is listed but jwt_secret_file is not set")
        if self.algorithms - _HMAC_ALGS and not (self._public_keys or self._jwks):
            raise ValueError("sse.auth: an asymmetric algorithm is listed but no jwt_public_keys/jwks_file")
        if not self.algorithms and not self._static:
            raise ValueError("sse.auth: no jwt_algorithms and no tokens_file: nobody could authenticate")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], base_dir: str | Path | None = None, **kw: Any) -> Authenticator:
        """Build from an ``[sse.auth]`` table; relative file names are taken from ``base_dir``."""
        unknown = set(cfg) - AUTH_KEYS
        if unknown:
            raise ValueError(f"sse.auth: unknown keys {sorted(unknown)}")
        base = Path(base_dir) if base_dir is not None else Path.cwd()

        def file(name: str) -> Path:
            return base / name

        algorithms = cfg.get("jwt_algorithms", [])
        if isinstance(algorithms, str) or not isinstance(algorithms, list):
            raise ValueError("sse.auth.jwt_algorithms must be a list of strings")
        keys_cfg = cfg.get("jwt_public_keys", [])
        if isinstance(keys_cfg, str):
            keys_cfg = [keys_cfg]
        public_keys = [_load_pem_key(file(p)) for p in keys_cfg]
        jwks: dict[str, Any] = {}
        if cfg.get("jwks_file"):
            jwk_set = jwt.PyJWKSet.from_json(file(cfg["jwks_file"]).read_text("utf-8"))
            for i, k in enumerate(jwk_set.keys):
                jwks[k.key_id or f"#{i}"] = k.key
        secret = None
        if cfg.get("jwt_secret_file"):
            secret = file(cfg["jwt_secret_file"]).read_bytes().rstrip(b"\r\n")
        static = _parse_tokens_file(file(cfg["tokens_file"])) if cfg.get("tokens_file") else {}
        return cls(
            algorithms=algorithms, public_keys=public_keys, jwks=jwks, secret=secret,
            issuer=cfg.get("issuer"), audience=cfg.get("audience"), static_tokens=static,
            leeway_s=float(cfg.get("leeway_s", 0)), **kw,
        )

    # ---------------------------------------------------------------- verification

    def authenticate(self, token: str | None) -> AuthResult:
        if not token:
            raise AuthError("no bearer token", missing=True)
        if self._static:
            digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
            found = self._static.get(digest)
            if found is not None:
                return found
        if token.count(".") != 2 or not self.algorithms:
            raise AuthError("unknown token")
        return self._verify_jwt(token)

    def _keys_for(self, alg: str, kid: Any) -> list[Any]:
        if alg in _HMAC_ALGS:
            return [self._secret] if self._secret else []
        types = _KEY_TYPES.get(_alg_family(alg), ())
        if isinstance(kid, str) and kid in self._jwks:
            candidates = [self._jwks[kid]]
        else:
            candidates = [*self._jwks.values(), *self._public_keys]
        return [k for k in candidates if isinstance(k, types)]

    def _verify_jwt(self, token: str) -> AuthResult:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none" or alg not in self.algorithms:
            raise AuthError("token algorithm not accepted")
        keys = self._keys_for(alg, header.get("kid"))
        if not keys:
            raise AuthError("no key for token")
        options = {"require": ["exp", "sub"] + (["iss"] if self.issuer else []) + (["aud"] if self.audience else [])}
        now = self._clock()
        claims: dict[str, Any] | None = None
        for key in keys:
            try:
                claims = self._decode(token, key, alg, options, now)
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise AuthError("token expired") from None
            except jwt.ImmatureSignatureError:
                raise AuthError("token not yet valid") from None
            except jwt.InvalidAudienceError:
                raise AuthError("wrong audience") from None
            except jwt.InvalidIssuerError:
                raise AuthError("wrong issuer") from None
            except jwt.MissingRequiredClaimError as exc:
                raise AuthError(f"missing claim {exc.claim}") from None
            except (jwt.PyJWTError, ValueError, TypeError):
                raise AuthError("invalid token") from None
        if claims is None:
            raise AuthError("bad signature")
        return self._result(claims)

    def _decode(self, token: str, key: Any, alg: str, options: dict[str, Any], now: float) -> dict[str, Any]:
        # PyJWT reads the wall clock itself; checks are redone here against our clock (testable, same rules).
        all_options: Any = {**options, "verify_exp": False, "verify_nbf": False, "verify_iat": False}
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[alg], issuer=self.issuer, audience=self.audience, options=all_options,
        )
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise jwt.MissingRequiredClaimError("exp")
        if exp <= now - self.leeway_s:
            raise jwt.ExpiredSignatureError
        if nbf is not None:
            if not isinstance(nbf, int | float) or isinstance(nbf, bool):
                raise jwt.InvalidTokenError("nbf")
            if nbf > now + self.leeway_s:
                raise jwt.ImmatureSignatureError
        return claims

    @staticmethod
    def _result(claims: Mapping[str, Any]) -> AuthResult:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise AuthError("invalid sub")
        groups: dict[str, None] = {}
        for name in ("groups", "wlcg.groups"):
            value = claims.get(name)
            if isinstance(value, str):
                value = [value]
            if isinstance(value, list):
                groups.update((g, None) for g in value if isinstance(g, str) and g)
        scope = claims.get("scope")
        if isinstance(scope, str):
            scopes = tuple(scope.split())
        elif isinstance(claims.get("scp"), list):
            scopes = tuple(s for s in claims["scp"] if isinstance(s, str))
        else:
            scopes = ()
        return AuthResult(Identity(user=sub, groups=tuple(groups)), scopes, float(claims["exp"]), "jwt")


def token_hash(token: str) -> str:
    """The line prefix a ``tokens_file`` stores for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()

