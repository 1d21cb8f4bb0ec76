"""Path-prefix ACLs: rule files, identities and the pure-Python trie (reference).

Semantics (docs/formats.md §2 for paths): an identity may see an event iff some
``allow`` rule naming one of its principals covers the event's path and kind,
and no ``deny`` rule naming one of its principals covers it. Coverage is by
path component; a deny wins at any depth; no rule means deny. The empty path
``""`` (a record naming no file) is covered only by rules on ``/``.

The native core (fastev._core.acl) re-uses the parsing and rule tables here and
only replaces the compiled structure and the lookup.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastev._ref.paths import canonical_path, covers, path_components
from fastev.errors import AclError
from fastev.event import KINDS

Effect = Literal["allow", "deny"]
EFFECTS: tuple[Effect, ...] = ("allow", "deny")
ALL_KINDS: int = (1 << len(KINDS)) - 1
KIND_ORDINALS: dict[str, int] = {name: i for i, name in enumerate(KINDS)}
RULE_KEYS: frozenset[str] = frozenset({"principals", "paths", "kinds"})
ANY_PRINCIPAL = "*"

# Masks live in a 64-bit word in the native core.
assert len(KINDS) <= 64

_UID = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() would accept e.g. Arabic-Indic digits


@dataclass(frozen=True, slots=True)
class Rule:
    """One allow/deny rule; ``paths`` are canonical, ``kinds`` is a bitmask over KINDS ordinals."""

    effect: Effect
    principals: tuple[str, ...]
    paths: tuple[str, ...]
    kinds: int = ALL_KINDS


@dataclass(frozen=True, slots=True)
class Identity:
    """Who reads: a user name, a numeric uid and groups (any of them may be absent)."""

    user: str | None = None
    uid: int | None = None
    groups: tuple[str, ...] = ()

    def principals(self) -> frozenset[str]:
        found = {ANY_PRINCIPAL}
        if self.user is not None:
            found.add("user:" + self.user)
        if self.uid is not None:
            found.add("uid:" + str(self.uid))
        found.update("group:" + g for g in self.groups)
        return frozenset(found)


# ---------------------------------------------------------------- small helpers

def kind_ordinal(kind: str | int) -> int:
    """The KINDS ordinal of a kind given as symbol or ordinal; ValueError if it is neither."""
    if isinstance(kind, str):
        ordinal = KIND_ORDINALS.get(kind)
        if ordinal is None:
            raise ValueError(f"unknown event kind {kind!r}")
        return ordinal
    if isinstance(kind, int) and not isinstance(kind, bool) and 0 <= kind < len(KINDS):
        return kind
    raise ValueError(f"unknown event kind {kind!r}")


def event_path_key(path: str) -> str | None:
    """The canonical form of an event path, ``""`` for the no-file path, None if refused.

    A path that cannot be encoded as UTF-8 (lone surrogates) is refused too, as
    invalid UTF-8 is in records (docs/formats.md §2), so both implementations agree.
    """
    if path == "":
        return ""
    canonical = canonical_path(path)
    if canonical is None:
        return None
    try:
        canonical.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return canonical


def rule_covers(rule_path: str, event_path: str) -> bool:
    """Does a canonical rule path cover a canonical event path (``""`` only under ``/``)?"""
    if event_path == "":
        return rule_path == "/"
    return covers(rule_path, event_path)


def normalise_principal(text: str) -> str | None:
    """The principal as identities spell it, or None if it is not a valid principal string."""
    if text == ANY_PRINCIPAL:
        return text
    scheme, sep, value = text.partition(":")
    if not sep or not value:
        return None
    if scheme in ("user", "group"):
        return text
    if scheme == "uid" and _UID.fullmatch(value):
        return "uid:" + str(int(value))  # "uid:007" names the identity whose principal is "uid:7"
    return None


def rule_path_key(path: str) -> str | None:
    """A rule path's canonical form, or None if it is not canonicalisable."""
    canonical = event_path_key(path)
    return canonical or None  # "" is not a rule path


# ---------------------------------------------------------------- rule files

def _fail(filename: str, where: str, message: str) -> AclError:
    return AclError(f"{filename}: {where}: {message}")


def _string_list(value: Any, filename: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(filename, where, "must be a list of strings")
    if not value:
        raise _fail(filename, where, "must not be empty")
    return value


def _parse_rule(effect: Effect, table: Any, filename: str, where: str) -> Rule:
    if not isinstance(table, dict):
        raise _fail(filename, where, "must be a table ([[" + effect + "]])")
    for key in table:
        if key not in RULE_KEYS:
            raise _fail(filename, f"{where}.{key}", "unknown key (expected principals, paths, kinds)")
    for key in ("principals", "paths"):
        if key not in table:
            raise _fail(filename, f"{where}.{key}", "missing required key")
    principals: list[str] = []
    for text in _string_list(table["principals"], filename, f"{where}.principals"):
        principal = normalise_principal(text)
        if principal is None:
            raise _fail(filename, f"{where}.principals", f"invalid principal {text!r} "
                        "(expected '*', 'user:<name>', 'uid:<digits>' or 'group:<name>')")
        principals.append(principal)
    paths: list[str] = []
    for text in _string_list(table["paths"], filename, f"{where}.paths"):
        canonical = rule_path_key(text)
        if canonical is None:
            raise _fail(filename, f"{where}.paths", f"path {text!r} is not a canonical absolute path")
        paths.append(canonical)
    kinds = ALL_KINDS
    if "kinds" in table:
        kinds = 0
        for name in _string_list(table["kinds"], filename, f"{where}.kinds"):
            if name not in KIND_ORDINALS:
                raise _fail(filename, f"{where}.kinds", f"unknown kind {name!r} (expected one of "
                            + ", ".join(KINDS) + ")")
            kinds |= 1 << KIND_ORDINALS[name]
    return Rule(effect, tuple(principals), tuple(paths), kinds)


def parse_rules_toml(text: str, filename: str = "<rules>") -> list[Rule]:
    """Parse a rule file; every problem is an AclError naming file, table (``allow[2]``, 0-based) and key."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AclError(f"{filename}: not valid TOML: {exc}") from exc
    rules: list[Rule] = []
    for key, value in document.items():
        if key not in EFFECTS:
            raise _fail(filename, key, "unknown key (expected [[allow]] or [[deny]] tables)")
        if not isinstance(value, list):
            raise _fail(filename, key, f"must be an array of tables ([[{key}]])")
        effect: Effect = "allow" if key == "allow" else "deny"
        rules.extend(_parse_rule(effect, table, filename, f"{key}[{i}]") for i, table in enumerate(value))
    return rules


def load_rules(path: str | Path) -> list[Rule]:
    """Read and parse a rule file; unreadable or non-UTF-8 files are AclErrors too."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise AclError(f"{path}: cannot read rule file: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise AclError(f"{path}: not valid TOML: not UTF-8 ({exc})") from exc
    return parse_rules_toml(text, str(path))


def checked_rules(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """Rules built in code skip the parser; refuse the ones the parser would refuse."""
    result = tuple(rules)
    for i, rule in enumerate(result):
        where = f"rule[{i}]"
        if rule.effect not in EFFECTS:
            raise AclError(f"{where}.effect: must be 'allow' or 'deny', not {rule.effect!r}")
        if not rule.principals or any(normalise_principal(p) != p for p in rule.principals):
            raise AclError(f"{where}.principals: invalid or empty principals {rule.principals!r}")
        if not rule.paths or any(rule_path_key(p) != p for p in rule.paths):
            raise AclError(f"{where}.paths: paths must be canonical and non-empty: {rule.paths!r}")
        if not 0 <= rule.kinds <= ALL_KINDS:
            raise AclError(f"{where}.kinds: mask {rule.kinds:#x} names unknown kinds")
    return result


# ---------------------------------------------------------------- compiled tables

def mask_table(rules: Iterable[Rule], principals: frozenset[str] | None = None) -> dict[str, tuple[int, int]]:
    """Canonical rule path -> (allow mask, deny mask), over rules naming one of ``principals`` (None: all)."""
    table: dict[str, tuple[int, int]] = {}
    for rule in rules:
        if principals is not None and principals.isdisjoint(rule.principals):
            continue
        for path in rule.paths:
            allow, deny = table.get(path, (0, 0))
            if rule.effect == "allow":
                allow |= rule.kinds
            else:
                deny |= rule.kinds
            table[path] = (allow, deny)
    return table


def grant_table(rules: Iterable[Rule]) -> dict[str, dict[str, tuple[int, int]]]:
    """Canonical rule path -> principal -> (allow mask, deny mask): what every PathTrie node holds."""
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for rule in rules:
        for path in rule.paths:
            grants = table.setdefault(path, {})
            for principal in rule.principals:
                allow, deny = grants.get(principal, (0, 0))
                if rule.effect == "allow":
                    allow |= rule.kinds
                else:
                    deny |= rule.kinds
                grants[principal] = (allow, deny)
    return table


def prefix_filter_table(paths: Iterable[str], kinds: Iterable[str | int]) -> dict[str, tuple[int, int]]:
    """The mask table of a PrefixFilter: every path allows ``kinds``; no paths means ``/``."""
    if isinstance(paths, str) or isinstance(kinds, str):
        raise AclError("prefix filter: paths and kinds must be lists, not a single string")
    mask = 0
    for kind in kinds:
        try:
            mask |= 1 << kind_ordinal(kind)
        except ValueError as exc:
            raise AclError(f"prefix filter: kinds: {exc}") from None
    mask = mask or ALL_KINDS
    table: dict[str, tuple[int, int]] = {}
    for path in list(paths) or ["/"]:
        canonical = rule_path_key(path) if isinstance(path, str) else None
        if canonical is None:
            raise AclError(f"prefix filter: paths: {path!r} is not a canonical absolute path")
        table[canonical] = (mask, 0)
    return table


# ---------------------------------------------------------------- the tries

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

    def match_canonical(self, path: bytes, kind: int) -> bool:
        """Mirror of the native C entry point: ``path`` is canonical UTF-8, ``kind`` an ordinal."""
        if not 0 <= kind < 64:
            return False
        # surrogateescape: invalid bytes then never equal a rule component, as in C's byte compare.
        key = path.decode("utf-8", "surrogateescape")
        if key and not key.startswith("/"):
            return False
        return self.match_key(key, kind)


class IdentityView(_MaskTrie):
    """The trie pre-filtered to one identity: a lookup is a walk checking one kind mask per node."""

    __slots__ = ("identity",)

    def __init__(self, rules: Iterable[Rule], identity: Identity) -> None:
        super().__init__(mask_table(rules, identity.principals()))
        self.identity = identity

    def allows(self, path: str, kind: str | int) -> bool:
        ordinal = kind_ordinal(kind)
        key = event_path_key(path)
        return key is not None and self.match_key(key, ordinal)


class PrefixFilter(_MaskTrie):
    """A route's plain filter: component-prefix paths (none: all) and kinds (none: all), no principals."""

    __slots__ = ()

    def __init__(self, paths: Iterable[str] = (), kinds: Iterable[str | int] = ()) -> None:
        super().__init__(prefix_filter_table(paths, kinds))

    # Not ``match``: in the native class that name is the nogil C entry point.
    def matches(self, path: str, kind: str | int) -> bool:
        ordinal = kind_ordinal(kind)
        key = event_path_key(path)
        return key is not None and self.match_key(key, ordinal)


class PathTrie:
    """Every rule in one trie; each node holds per-principal allow/deny masks."""

    __slots__ = ("rules", "_root")

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = checked_rules(rules)
        self._root = _GrantNode()
        for path, grants in grant_table(self.rules).items():
            node = self._root
            for part in path_components(path):
                node = node.children.setdefault(part, _GrantNode())
            node.grants = grants

    def allows(self, identity: Identity, path: str, kind: str | int) -> bool:
        bit = 1 << kind_ordinal(kind)
        key = event_path_key(path)
        if key is None:
            return False
        principals = identity.principals()
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

    def view(self, identity: Identity) -> IdentityView:
        return IdentityView(self.rules, identity)


def allows_bruteforce(rules: Sequence[Rule], identity: Identity, path: str, kind: str | int) -> bool:
    """The obviously correct O(rules) decision; the oracle for the tries in tests."""
    ordinal = kind_ordinal(kind)
    key = event_path_key(path)
    if key is None:
        return False
    principals = identity.principals()

    def hits(effect: Effect) -> bool:
        return any(rule.effect == effect and rule.kinds >> ordinal & 1
                   and not principals.isdisjoint(rule.principals)
                   and any(rule_covers(p, key) for p in rule.paths) for rule in rules)

    return hits("allow") and not hits("deny")


def prefix_match_bruteforce(paths: Sequence[str], kinds: Sequence[str | int], path: str,
                            kind: str | int) -> bool:
    """The obviously correct PrefixFilter decision, for tests."""
    ordinal = kind_ordinal(kind)
    key = event_path_key(path)
    if key is None:
        return False
    if kinds and ordinal not in {kind_ordinal(k) for k in kinds}:
        return False
    return not paths or any(rule_covers(canonical_path(p) or "", key) for p in paths)
