"""ACL rules: rule files, identities, principals, sources and the tables both tries compile.

Semantics (docs/formats.md §2 for paths, §6 for sources): an identity may see
an event iff some ``allow`` rule naming one of its principals covers the
event's path, kind and source, and no ``deny`` rule naming one of its
principals covers it. Coverage is by path component; a deny wins at any depth;
no rule means deny. The empty path ``""`` (a record naming no file) is covered
only by rules on ``/``. A rule without ``sources`` covers every source; an
event whose source is not given is covered only by such rules.

Both implementations (fastev._core.acl and fastev._ref.acl) parse rules and
build their per-node tables here, so their errors and decisions agree; they
differ only in the compiled structure and the lookup.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastev.errors import AclError
from fastev.event import DECODER_NAMES, KINDS, SOURCES
from fastev.paths import canonical_path, covers

__all__ = (
    "ALL_KINDS", "ALL_SOURCES", "ANY_PRINCIPAL", "EFFECTS", "KIND_ORDINALS", "N_SOURCE_SLOTS", "RULE_KEYS",
    "UNKNOWN_SOURCE_SLOT", "Effect", "Identity", "Rule",
    "checked_rules", "event_path_key", "grant_table", "kind_ordinal", "load_rules", "mask_table",
    "normalise_principal", "parse_rules_toml", "prefix_filter_table", "rule_applies_to_slot", "rule_covers",
    "rule_decides_slot", "prefix_filter_sources", "rule_path_key", "rules_name_sources", "source_mask", "source_slot",
)

Effect = Literal["allow", "deny"]
EFFECTS: tuple[Effect, ...] = ("allow", "deny")
ALL_KINDS: int = (1 << len(KINDS)) - 1
KIND_ORDINALS: dict[str, int] = {name: i for i, name in enumerate(KINDS)}
RULE_KEYS: frozenset[str] = frozenset({"principals", "paths", "kinds", "sources"})
ANY_PRINCIPAL = "*"

# Sources: a rule holds a bitmask over SOURCES ordinals. A lookup asks for one
# *slot*: a source ordinal, or UNKNOWN_SOURCE_SLOT when the caller names no
# source (then only rules covering every source apply: deny by default).
ALL_SOURCES: int = (1 << len(SOURCES)) - 1
UNKNOWN_SOURCE_SLOT: int = len(SOURCES)
N_SOURCE_SLOTS: int = len(SOURCES) + 1
_SOURCE_SLOTS: dict[str, int] = {**{s: i for i, s in enumerate(SOURCES)},
                                  **{n: i for i, n in enumerate(DECODER_NAMES)}}

# Masks live in a 64-bit word in the native core.
if len(KINDS) > 64:
    raise ImportError("ACL kind masks hold at most 64 kinds")

_UID = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() would accept e.g. Arabic-Indic digits


@dataclass(frozen=True, slots=True)
class Rule:
    """One allow/deny rule; ``paths`` are canonical, ``kinds`` and ``sources`` are bitmasks over ordinals."""

    effect: Effect
    principals: tuple[str, ...]
    paths: tuple[str, ...]
    kinds: int = ALL_KINDS
    sources: int = ALL_SOURCES


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


def source_slot(source: str | int | None) -> int:
    """The lookup slot of an event source: its SOURCES ordinal (from the symbol ``S3``, the decoder
    name ``s3`` or the ordinal), or UNKNOWN_SOURCE_SLOT for None; ValueError for anything else."""
    if source is None:
        return UNKNOWN_SOURCE_SLOT
    if isinstance(source, str):
        slot = _SOURCE_SLOTS.get(source)
        if slot is None:
            raise ValueError(f"unknown event source {source!r}")
        return slot
    if isinstance(source, int) and not isinstance(source, bool) and 0 <= source < len(SOURCES):
        return source
    raise ValueError(f"unknown event source {source!r}")


def source_mask(sources: Iterable[str | int]) -> int:
    """Bitmask of the named sources (symbols, decoder names or ordinals); none named: all sources."""
    if isinstance(sources, str):
        raise ValueError("sources: must be a list, not a single string")
    mask = 0
    for source in sources:
        if source is None:
            raise ValueError("sources: None names no source")
        mask |= 1 << source_slot(source)
    return mask or ALL_SOURCES


def rule_applies_to_slot(sources: int, slot: int) -> bool:
    """Does a route filter with source mask ``sources`` pass events of lookup ``slot``?
    Events without a source pass only a filter that names no sources."""
    if slot == UNKNOWN_SOURCE_SLOT:
        return sources == ALL_SOURCES
    return bool(sources >> slot & 1)


def rule_decides_slot(rule: Rule, slot: int) -> bool:
    """Does ACL ``rule`` take part in decisions for lookup ``slot``? Without a source the event
    could come from any source, so security defaults to deny: every deny rule applies, whatever
    sources it names, and only the allow rules that cover all sources (docs/formats.md §6)."""
    if slot == UNKNOWN_SOURCE_SLOT and rule.effect == "deny":
        return True
    return rule_applies_to_slot(rule.sources, slot)


def rules_name_sources(rules: Iterable[Rule]) -> bool:
    """True if some rule is limited to some sources (the tries then keep one table per slot)."""
    return any(rule.sources != ALL_SOURCES for rule in rules)


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
            raise _fail(filename, f"{where}.{key}", "unknown key (expected principals, paths, kinds, sources)")
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
    sources = ALL_SOURCES
    if "sources" in table:
        sources = 0
        for name in _string_list(table["sources"], filename, f"{where}.sources"):
            if name not in DECODER_NAMES:
                raise _fail(filename, f"{where}.sources", f"unknown source {name!r} (expected one of "
                            + ", ".join(DECODER_NAMES) + ")")
            sources |= 1 << DECODER_NAMES.index(name)
    return Rule(effect, tuple(principals), tuple(paths), kinds, sources)


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
        if not (isinstance(rule.kinds, int) and 0 <= rule.kinds <= ALL_KINDS):
            raise AclError(f"{where}.kinds: mask {rule.kinds!r} names unknown kinds")
        if not (isinstance(rule.sources, int) and 0 < rule.sources <= ALL_SOURCES):
            raise AclError(f"{where}.sources: mask {rule.sources!r} names no or unknown sources")
    return result


# ---------------------------------------------------------------- compiled tables

def mask_table(rules: Iterable[Rule], principals: frozenset[str] | None = None,
               slot: int = UNKNOWN_SOURCE_SLOT) -> dict[str, tuple[int, int]]:
    """Canonical rule path -> (allow mask, deny mask), over the rules naming one of ``principals``
    (None: all) that apply to source ``slot``."""
    table: dict[str, tuple[int, int]] = {}
    for rule in rules:
        if principals is not None and principals.isdisjoint(rule.principals):
            continue
        if not rule_decides_slot(rule, slot):
            continue
        for path in rule.paths:
            allow, deny = table.get(path, (0, 0))
            if rule.effect == "allow":
                allow |= rule.kinds
            else:
                deny |= rule.kinds
            table[path] = (allow, deny)
    return table


def grant_table(rules: Iterable[Rule], slot: int = UNKNOWN_SOURCE_SLOT) -> dict[str, dict[str, tuple[int, int]]]:
    """Canonical rule path -> principal -> (allow mask, deny mask), over the rules that apply to
    source ``slot``: what every PathTrie node holds."""
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for rule in rules:
        if not rule_decides_slot(rule, slot):
            continue
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


def prefix_filter_sources(sources: Iterable[str | int]) -> int:
    """A PrefixFilter's source mask (none named: all); AclError for an unknown source."""
    try:
        return source_mask(sources)
    except ValueError as exc:
        raise AclError(f"prefix filter: {exc}" if str(exc).startswith("sources") else
                       f"prefix filter: sources: {exc}") from None
