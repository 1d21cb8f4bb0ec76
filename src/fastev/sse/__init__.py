"""Direct delivery over Server-Sent Events: authentication, per-identity authorisation, fan-out.

``auth`` (who: JWTs, static service tokens), ``authz`` (what: ACL or WLCG scopes),
``hub`` (fan-out, replay window, overflow), ``server`` (aiohttp endpoints).
"""
from __future__ import annotations

from fastev.sse.auth import Authenticator, AuthError, AuthResult, token_hash
from fastev.sse.authz import AclAuthorizer, Grant, ScopeAuthorizer, authorizer_from_config
from fastev.sse.config import SseConfig, build
from fastev.sse.hub import EventHub, Filters
from fastev.sse.server import make_app, start

__all__ = (
    "AuthError", "AuthResult", "Authenticator", "token_hash",
    "AclAuthorizer", "ScopeAuthorizer", "Grant", "authorizer_from_config",
    "EventHub", "Filters", "make_app", "start", "SseConfig", "build",
)
