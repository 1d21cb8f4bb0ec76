"""Path-prefix ACL tries, pure Python (the oracle for fastev._core.acl).

Rules, identities and the per-node tables come from fastev.acl_rules (shared
with the native core, which only replaces the compiled structure and the
lookup). Semantics: see fastev.acl_rules and docs/formats.md §2, §6.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from fastev.acl_rules import (
    ANY_PRINCIPAL,
    N_SOURCE_SLOTS,
    Effect,
    Identity,
    Rule,
    checked_rules,
    event_path_key,
    grant_table,
    kind_ordinal,
    load_rules,
    mask_table,
    normalise_principal,
    parse_rules_toml,
    prefix_filter_sources,
    prefix_filter_table,
    rule_applies_to_slot,
    rule_covers,
    rule_decides_slot,
    rules_name_sources,
    source_slot,
)
from fastev.paths import canonical_path, path_components

__all__ = (
    "ANY_PRINCIPAL", "Identity", "IdentityView", "PathTrie", "PrefixFilter", "Rule",
    "allows_bruteforce", "load_rules", "normalise_principal", "parse_rules_toml", "prefix_match_bruteforce",
)


class _GrantNode:
    __slots__ = ("children", "grants")

    def __init__(self) -> None:
        self.children: dict[str, _GrantNode] = {}
        self.grants: dict[str, tuple[int, int]] = {}


class _MaskNode:
    __slots__ = ("children", "mask")

    def __init__(self, mask: int) -> None:
        self.children: dict[str, _MaskNode] = {}
        self.mask = mask  # kinds allowed here and below, unless a deeper node says otherwise


class _MaskTrie:
    """A trie whose node masks already fold in every ancestor's allow and deny.

    So a lookup walks as deep as the path and the trie agree and answers from
    the last node reached, whatever the number of rules.
    """

    __slots__ = ("_root",)

    def __init__(self, table: Mapping[str, tuple[int, int]]) -> None:
        self._root = _MaskNode(0)
        own: dict[_MaskNode, tuple[int, int]] = {}
        for path, masks in table.items():
            node = self._root
            for part in path_components(path):
                node = node.children.setdefault(part, _MaskNode(0))
            own[node] = masks
        # Push every node's allow/deny down to its descendants.
        stack = [(self._root, 0, 0)]
        while stack:
            node, allow, deny = stack.pop()
            own_allow, own_deny = own.get(node, (0, 0))
            allow, deny = allow | own_allow, deny | own_deny
            node.mask = allow & ~deny
            stack.extend((child, allow, deny) for child in node.children.values())

    def match_key(self, key: str, kind: int) -> bool:
        """``key`` is canonical (or ``""``) and ``kind`` an ordinal."""
        node = self._root
        for part in path_components(key):
            child = node.children.get(part)
            if child is None:
                break
            node = child
        return bool(node.mask >> kind & 1)


def _match_canonical(trie: _MaskTrie, path: bytes, kind: int) -> bool:
    """Mirror of the native C entry point: ``path`` is canonical UTF-8, ``kind`` an ordinal."""
    if not 0 <= kind < 64:
        return False
    # surrogateescape: invalid bytes then never equal a rule component, as in C's byte compare.
    key = path.decode("utf-8", "surrogateescape")
    if key and not key.startswith("/"):
        return False
    return trie.match_key(key, kind)


def _slot_of(source: int) -> int:
    """The C entry points take a slot; anything out of range is the unknown-source slot."""
    return source if 0 <= source < N_SOURCE_SLOTS else N_SOURCE_SLOTS - 1


class IdentityView:
    """The rules pre-filtered to one identity: a lookup is a walk checking one kind mask per node.

    One trie per source slot when some rule names sources (equal tables share a trie).
    """

    __slots__ = ("identity", "_tries")

    def __init__(self, rules: Iterable[Rule], identity: Identity) -> None:
        rules = tuple(rules)
        principals = identity.principals()
        slots = range(N_SOURCE_SLOTS) if rules_name_sources(rules) else (N_SOURCE_SLOTS - 1,)
        tries: dict[tuple[tuple[str, tuple[int, int]], ...], _MaskTrie] = {}
        by_slot = []
        for slot in slots:
            table = mask_table(rules, principals, slot)
            key = tuple(sorted(table.items()))
            by_slot.append(tries.setdefault(key, _MaskTrie(table)))
        self._tries = tuple(by_slot) if len(by_slot) > 1 else by_slot * N_SOURCE_SLOTS
        self.identity = identity

    def allows(self, path: str, kind: str | int, source: str | int | None = None) -> bool:
        ordinal = kind_ordinal(kind)
        slot = source_slot(source)
        key = event_path_key(path)
        return key is not None and self._tries[slot].match_key(key, ordinal)

    def match_canonical(self, path: bytes, kind: int, source: int = N_SOURCE_SLOTS - 1) -> bool:
        return _match_canonical(self._tries[_slot_of(source)], path, kind)


class PrefixFilter:
    """A route's plain filter: component-prefix paths, kinds and sources (each none: all), no principals."""

    __slots__ = ("_trie", "_sources")

    def __init__(self, paths: Iterable[str] = (), kinds: Iterable[str | int] = (),
                 sources: Iterable[str | int] = ()) -> None:
        self._trie = _MaskTrie(prefix_filter_table(paths, kinds))
        self._sources = prefix_filter_sources(sources)

    # Not ``match``: in the native class that name is the nogil C entry point.
    def matches(self, path: str, kind: str | int, source: str | int | None = None) -> bool:
        ordinal = kind_ordinal(kind)
        slot = source_slot(source)
        key = event_path_key(path)
        return key is not None and rule_applies_to_slot(self._sources, slot) and self._trie.match_key(key, ordinal)

    def match_canonical(self, path: bytes, kind: int, source: int = N_SOURCE_SLOTS - 1) -> bool:
        return rule_applies_to_slot(self._sources, _slot_of(source)) and _match_canonical(self._trie, path, kind)


class _GrantTrie:
    """Every rule of one source slot in one trie; each node holds per-principal allow/deny masks."""

    __slots__ = ("_root",)

    def __init__(self, table: Mapping[str, dict[str, tuple[int, int]]]) -> None:
        self._root = _GrantNode()
        for path, grants in table.items():
            node = self._root
            for part in path_components(path):
                node = node.children.setdefault(part, _GrantNode())
            node.grants = grants

    def allows(self, principals: frozenset[str], key: str, bit: int) -> bool:
        allow = deny = 0
        node: _GrantNode | None = self._root
        parts = path_components(key)
        depth = 0
        while node is not None:
            for principal, (node_allow, node_deny) in node.grants.items():
                if principal in principals:
                    allow |= node_allow
                    deny |= node_deny
            node = node.children.get(parts[depth]) if depth < len(parts) else None
            depth += 1
        return bool(allow & bit) and not deny & bit


class PathTrie:
    """Every rule in one trie per source slot (one in all when no rule names sources)."""

    __slots__ = ("rules", "_tries")

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = checked_rules(rules)
        if rules_name_sources(self.rules):
            self._tries = tuple(_GrantTrie(grant_table(self.rules, slot)) for slot in range(N_SOURCE_SLOTS))
        else:
            self._tries = (_GrantTrie(grant_table(self.rules)),) * N_SOURCE_SLOTS

    def allows(self, identity: Identity, path: str, kind: str | int, source: str | int | None = None) -> bool:
        bit = 1 << kind_ordinal(kind)
        slot = source_slot(source)
        key = event_path_key(path)
        if key is None:
            return False
        return self._tries[slot].allows(identity.principals(), key, bit)

    def view(self, identity: Identity) -> IdentityView:
        return IdentityView(self.rules, identity)


def allows_bruteforce(rules: Sequence[Rule], identity: Identity, path: str, kind: str | int,
                      source: str | int | None = None) -> bool:
    """The obviously correct O(rules) decision; the oracle for the tries in tests."""
    ordinal = kind_ordinal(kind)
    slot = source_slot(source)
    key = event_path_key(path)
    if key is None:
        return False
    principals = identity.principals()

    def hits(effect: Effect) -> bool:
        return any(rule.effect == effect and rule.kinds >> ordinal & 1
                   and rule_decides_slot(rule, slot)
                   and not principals.isdisjoint(rule.principals)
                   and any(rule_covers(p, key) for p in rule.paths) for rule in rules)

    return hits("allow") and not hits("deny")


def prefix_match_bruteforce(paths: Sequence[str], kinds: Sequence[str | int], path: str,
                            kind: str | int, sources: Sequence[str | int] = (),
                            source: str | int | None = None) -> bool:
    """The obviously correct PrefixFilter decision, for tests."""
    ordinal = kind_ordinal(kind)
    slot = source_slot(source)
    key = event_path_key(path)
    if key is None:
        return False
    if kinds and ordinal not in {kind_ordinal(k) for k in kinds}:
        return False
    if sources and slot not in {source_slot(s) for s in sources}:
        return False
    return not paths or any(rule_covers(canonical_path(p) or "", key) for p in paths)
