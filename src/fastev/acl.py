"""Who may see which event: path-prefix ACLs and route filters.

The native trie (fastev._core.acl) or the pure-Python reference is chosen once,
here, at import; FASTEV_NO_EXTENSIONS=1 forces the reference. Both parse rule
files with fastev.acl_rules, so their errors are identical. Rules and routes may
be limited to event sources (docs/formats.md §6); lookups then take the source.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from fastev._native import load
from fastev.acl_rules import ANY_PRINCIPAL, Identity, Rule, load_rules, normalise_principal, parse_rules_toml
from fastev.errors import AclError

__all__ = (
    "Acl", "Identity", "Rule", "IdentityView", "RouteFilter", "PrefixFilter",
    "identity_from_principals", "load_rules", "parse_rules_toml", "IMPLEMENTATION",
)


_impl, IMPLEMENTATION = load("acl", "fastev._ref.acl")  # the reference only when native is off


class IdentityView(Protocol):
    """The ACL pre-filtered to one identity (e.g. one SSE reader); cheap per-event lookups."""

    @property
    def identity(self) -> Identity: ...

    def allows(self, path: str, kind: str | int, source: str | int | None = None) -> bool: ...


class RouteFilter(Protocol):
    """What a PrefixFilter provides."""

    def matches(self, path: str, kind: str | int, source: str | int | None = None) -> bool: ...


# PrefixFilter(paths=(), kinds=(), sources=()): component-prefix paths, kinds and sources (each none: all).
PrefixFilter: Callable[..., RouteFilter] = _impl.PrefixFilter


class Acl:
    """A compiled rule set: ``allows(identity, path, kind)`` walks the path, whatever the rule count."""

    __slots__ = ("_trie",)

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._trie = _impl.PathTrie(rules)

    @classmethod
    def from_rules(cls, rules: Iterable[Rule]) -> Acl:
        return cls(rules)

    @classmethod
    def from_toml(cls, path: str | Path) -> Acl:
        return cls(load_rules(path))

    @classmethod
    def from_text(cls, text: str, filename: str = "<text>") -> Acl:
        return cls(parse_rules_toml(text, filename))

    @property
    def rules(self) -> tuple[Rule, ...]:
        rules: tuple[Rule, ...] = self._trie.rules
        return rules

    def allows(self, identity: Identity, path: str, kind: str | int, source: str | int | None = None) -> bool:
        """May ``identity`` see an event of ``kind`` (symbol or KINDS ordinal) on ``path`` from ``source``
        (symbol ``S3``, decoder name ``s3`` or ordinal; None: only rules covering every source apply)?"""
        allowed: bool = self._trie.allows(identity, path, kind, source)
        return allowed

    def view(self, identity: Identity) -> IdentityView:
        view: IdentityView = self._trie.view(identity)
        return view

    def __repr__(self) -> str:
        return f"Acl({len(self.rules)} rules, {IMPLEMENTATION})"


def identity_from_principals(principals: Iterable[str]) -> Identity:
    """The identity a route reads as, from principal strings such as ``["group:/atlas"]``.

    ``*`` adds nothing (every identity has it); at most one ``user:`` and one
    ``uid:`` principal, since an identity has one of each.
    """
    user: str | None = None
    uid: int | None = None
    groups: dict[str, None] = {}  # ordered set
    for text in principals:
        principal = normalise_principal(text)
        if principal is None:
            raise AclError(f"principals: invalid principal {text!r}")
        if principal == ANY_PRINCIPAL:
            continue
        scheme, _, value = principal.partition(":")
        if scheme == "group":
            groups[value] = None
        elif scheme == "user":
            if user is not None and user != value:
                raise AclError(f"principals: more than one user ({user!r}, {value!r})")
            user = value
        else:
            if uid is not None and uid != int(value):
                raise AclError(f"principals: more than one uid ({uid}, {value})")
            uid = int(value)
    return Identity(user=user, uid=uid, groups=tuple(groups))
