"""Authorisation for SSE readers: what an authenticated identity may see.

Two modes, chosen by ``[sse.auth] mode``:

``acl``     the identity's rights are those of the ACL rules (fastev.acl): the
            compiled per-identity view decides every event.
``scopes``  WLCG / SciTokens capabilities in the token: ``storage.read:/sub`` (or
            ``read:/sub``) grants every event kind under ``scope_base`` + ``/sub``,
            by path component, on canonical paths. No read scope: nothing.

A :class:`Grant` answers ``allows(path, kind)`` per event and
``covers_filter(prefix)`` for a ``?path=`` filter: a filter is accepted only if
it lies inside (component-wise) something the identity is granted; otherwise the
server answers 403.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Protocol

from fastev.acl import Acl, PrefixFilter
from fastev.acl_rules import event_path_key
from fastev.paths import canonical_path, covers
from fastev.sse.auth import AuthResult

__all__ = ("Grant", "AclGrant", "ScopeGrant", "AclAuthorizer", "ScopeAuthorizer", "authorizer_from_config",
           "READ_SCOPE_PREFIXES")

READ_SCOPE_PREFIXES: tuple[str, ...] = ("storage.read:", "read:")


class Grant(Protocol):
    def allows(self, path: str, kind: str | int, source: str | int | None = None) -> bool: ...

    def covers_filter(self, prefix: str) -> bool: ...

    def key(self) -> Hashable:
        """Grants with equal keys decide every event identically (the hub checks each key once per event)."""


class AclGrant:
    """ACL mode: per-event answers from the identity's compiled view."""

    __slots__ = ("_view", "_allow_paths", "_principals")

    def __init__(self, acl: Acl, result: AuthResult) -> None:
        identity = result.identity
        self._view = acl.view(identity)
        principals = self._principals = identity.principals()
        self._allow_paths = tuple(sorted({
            p for r in acl.rules if r.effect == "allow" and principals.intersection(r.principals) for p in r.paths
        }))

    def allows(self, path: str, kind: str | int, source: str | int | None = None) -> bool:
        # Rules limited to some sources (docs/formats.md §6) need the event's source; without one
        # only rules covering every source apply.
        return self._view.allows(path, kind, source)

    def key(self) -> tuple[str, frozenset[str]]:
        """Equal keys decide identically: ACL decisions depend only on the principal set."""
        return ("acl", self._principals)

    def covers_filter(self, prefix: str) -> bool:
        canonical = canonical_path(prefix)
        return canonical is not None and any(covers(p, canonical) for p in self._allow_paths)


class ScopeGrant:
    """Scope mode: read scopes turned into canonical absolute prefixes under ``scope_base``."""

    __slots__ = ("prefixes", "_filter")

    def __init__(self, scope_base: str, scopes: Iterable[str]) -> None:
        base = canonical_path(scope_base)
        if base is None:
            raise ValueError(f"sse.auth.scope_base: {scope_base!r} is not a canonical absolute path")
        prefixes: set[str] = set()
        for scope in scopes:
            for lead in READ_SCOPE_PREFIXES:
                if scope.startswith(lead):
                    rel = scope[len(lead):]
                    # The scope path must be absolute and free of . / .. (canonical_path refuses those).
                    if rel.startswith("/"):
                        full = canonical_path(base.rstrip("/") + rel)
                        if full is not None and covers(base, full):
                            prefixes.add(full)
                    break
        self.prefixes: tuple[str, ...] = tuple(sorted(prefixes))
        # PrefixFilter with no paths means "everything": only build it when something is granted.
        self._filter = PrefixFilter(paths=list(self.prefixes)) if self.prefixes else None

    def key(self) -> tuple[str, tuple[str, ...]]:
        return ("scopes", self.prefixes)

    def allows(self, path: str, kind: str | int, source: str | int | None = None) -> bool:
        # Scopes name paths only: a source is kept inside its namespace by its path_prefix (docs/formats.md §6).
        if self._filter is None or event_path_key(path) is None:
            return False
        return self._filter.matches(path, kind)

    def covers_filter(self, prefix: str) -> bool:
        canonical = canonical_path(prefix)
        return canonical is not None and any(covers(p, canonical) for p in self.prefixes)


class AclAuthorizer:
    """``AuthResult -> Grant`` for ACL mode."""

    def __init__(self, acl: Acl) -> None:
        self.acl = acl

    def __call__(self, result: AuthResult) -> Grant:
        return AclGrant(self.acl, result)


class ScopeAuthorizer:
    """``AuthResult -> Grant`` for scope mode."""

    def __init__(self, scope_base: str = "/") -> None:
        if canonical_path(scope_base) is None:
            raise ValueError(f"sse.auth.scope_base: {scope_base!r} is not a canonical absolute path")
        self.scope_base = scope_base

    def __call__(self, result: AuthResult) -> Grant:
        return ScopeGrant(self.scope_base, result.scopes)


def authorizer_from_config(cfg: Mapping[str, Any], acl: Acl | None = None) -> AclAuthorizer | ScopeAuthorizer:
    """From an ``[sse.auth]`` table: ``mode = "acl"`` (needs ``acl``) or ``"scopes"`` (``scope_base``)."""
    mode = cfg.get("mode", "acl")
    if mode == "acl":
        if acl is None:
            raise ValueError('sse.auth.mode = "acl" needs an ACL')
        return AclAuthorizer(acl)
    if mode == "scopes":
        return ScopeAuthorizer(str(cfg.get("scope_base", "/")))
    raise ValueError(f'sse.auth.mode must be "acl" or "scopes", not {mode!r}')
