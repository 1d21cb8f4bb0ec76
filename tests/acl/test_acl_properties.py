"""Differential tests: native and reference tries against the O(rules) brute-force oracle.

The native module is imported directly (not through the facade) so these tests
fail, rather than quietly test the reference twice, when the extension did not
build; FASTEV_NO_EXTENSIONS=1 limits them to the reference.
"""
from __future__ import annotations

import importlib
import os
import unicodedata
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastev import acl_rules
from fastev._ref import acl as ref
from fastev.event import DECODER_NAMES, KINDS, SOURCES
from fastev.paths import canonical_path, path_components

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")

native: ModuleType | None
try:
    native = importlib.import_module("fastev._core.acl")
    NATIVE_ERROR: BaseException | None = None
except ImportError as exc:
    native, NATIVE_ERROR = None, exc

IMPLEMENTATIONS = ["reference"] + ([] if NO_EXTENSIONS else ["native"])


def implementation(name: str) -> ModuleType:
    if name == "reference":
        return ref
    if native is None:
        pytest.fail(f"fastev._core.acl did not import: {NATIVE_ERROR!r}")
    return native


# A parametrised name, not a fixture: hypothesis refuses function-scoped fixtures.
each_implementation = pytest.mark.parametrize("impl_name", IMPLEMENTATIONS)


def test_facade_uses_the_native_trie_unless_disabled() -> None:
    import fastev.acl

    assert fastev.acl.IMPLEMENTATION == ("reference" if NO_EXTENSIONS else "native"), NATIVE_ERROR


# Components chosen to collide: sibling prefixes, look-alikes (Latin "a" and
# Cyrillic "а"), and é in NFC and NFD, which docs/formats.md §2 keeps distinct.
E_NFC = unicodedata.normalize("NFC", "é")
E_NFD = unicodedata.normalize("NFD", "é")
COMPONENTS = ["a", "ab", "\u0430", E_NFC, E_NFD, "b", "A", "a b"]
PRINCIPALS = ["*", "user:alice", "user:bob", "uid:1000", "uid:0", "group:/atlas", "group:/cms"]
QUERY_KINDS = [0, 1, 2, len(KINDS) - 1]

rule_paths = st.lists(st.sampled_from(COMPONENTS), max_size=3).map(lambda parts: "/" + "/".join(parts))
kind_masks = st.one_of(
    st.just(acl_rules.ALL_KINDS),
    st.sets(st.sampled_from(QUERY_KINDS), min_size=1).map(lambda ks: sum(1 << k for k in ks)),
)
# Most rules cover every source; some are limited (docs/formats.md §6).
source_masks = st.one_of(
    st.just(acl_rules.ALL_SOURCES),
    st.sets(st.integers(0, len(SOURCES) - 1), min_size=1).map(lambda ss: sum(1 << s for s in ss)),
)
# How callers name an event's source: not at all, the Avro symbol, the decoder name, the ordinal.
query_sources = st.one_of(st.none(), st.sampled_from(SOURCES), st.sampled_from(DECODER_NAMES),
                          st.integers(0, len(SOURCES) - 1))
rules_st = st.lists(st.builds(
    ref.Rule,
    effect=st.sampled_from(acl_rules.EFFECTS),
    principals=st.lists(st.sampled_from(PRINCIPALS), min_size=1, max_size=3).map(tuple),
    paths=st.lists(rule_paths, min_size=1, max_size=2).map(tuple),
    kinds=kind_masks,
    sources=source_masks,
), max_size=8)
identities = st.builds(
    ref.Identity,
    user=st.sampled_from([None, "alice", "bob"]),
    uid=st.sampled_from([None, 0, 1000, 7]),
    groups=st.lists(st.sampled_from(["/atlas", "/cms", "/dune"]), max_size=2, unique=True).map(tuple),
)
# Raw event paths: separators that collapse ("" parts give "//"), trailing "/",
# "." and ".." (but "...", ".a" are plain names), NUL, relative paths, lone
# surrogates and the no-file path "".
raw_parts = st.sampled_from(COMPONENTS + ["", "", ".", "..", "a\x00", "\ud800", "...", ".a", "a.", "..b"])
event_paths = st.one_of(
    st.just(""),
    st.builds(lambda lead, parts, tail: lead + "/".join(parts) + tail,
              st.sampled_from(["/", "/", "/", "//", ""]), st.lists(raw_parts, max_size=5),
              st.sampled_from(["", "", "/"])),
)
LOOKALIKE = {"a": "\u0430", "\u0430": "a", E_NFC: E_NFD, E_NFD: E_NFC, "b": "B", "A": "a"}


@st.composite
def event_paths_near(draw: st.DrawFn, rule_paths: list[str]) -> str:
    """Mostly a rule path spelled badly: itself, its parent, a sibling or look-alike, extended."""
    if not rule_paths or draw(st.integers(0, 4)) == 0:
        return draw(event_paths)
    parts = path_components(draw(st.sampled_from(rule_paths)))
    if parts:
        how = draw(st.sampled_from(["same", "same", "sibling", "lookalike", "parent"]))
        if how == "sibling" or (how == "lookalike" and parts[-1] not in LOOKALIKE):
            parts[-1] += draw(st.sampled_from(["b", "a", " ", "\u0301"]))
        elif how == "lookalike":
            parts[-1] = LOOKALIKE[parts[-1]]
        elif how == "parent":
            parts.pop()
    parts += draw(st.lists(raw_parts, max_size=2))
    separator = draw(st.sampled_from(["/", "/", "//"]))
    lead = draw(st.sampled_from(["/", "/", "//"]))
    return lead + separator.join(parts) + draw(st.sampled_from(["", "", "/"]))


def rule_paths_of(rules: list[ref.Rule]) -> list[str]:
    return sorted({path for rule in rules for path in rule.paths})


@each_implementation
@settings(max_examples=300, deadline=None)
@given(rules=rules_st, data=st.data())
def test_trie_and_view_agree_with_brute_force(impl_name: str, rules: list[ref.Rule],
                                              data: st.DataObject) -> None:
    trie = implementation(impl_name).PathTrie(rules)
    queries = data.draw(st.lists(st.tuples(identities, event_paths_near(rule_paths_of(rules)),
                                           st.sampled_from(QUERY_KINDS), query_sources), min_size=1, max_size=12))
    for identity, path, kind, source in queries:
        expected = ref.allows_bruteforce(rules, identity, path, kind, source)
        assert trie.allows(identity, path, kind, source) == expected, (identity, path, kind, source)
        view = trie.view(identity)
        assert view.allows(path, KINDS[kind], source) == expected, (identity, path, kind, source)
        key = acl_rules.event_path_key(path)
        if key is not None:
            # The C entry point sees canonical UTF-8 and ordinals, as the transcoder passes them.
            slot = acl_rules.source_slot(source)
            assert view.match_canonical(key.encode("utf-8"), kind, slot) == expected, (identity, key, kind, slot)


@each_implementation
@settings(max_examples=200, deadline=None)
@given(paths=st.lists(rule_paths, max_size=3), kinds=st.lists(st.sampled_from(QUERY_KINDS), max_size=2),
       sources=st.lists(st.sampled_from(DECODER_NAMES), max_size=2), data=st.data())
def test_prefix_filter_agrees_with_brute_force(impl_name: str, paths: list[str], kinds: list[int],
                                               sources: list[str], data: st.DataObject) -> None:
    prefix_filter = implementation(impl_name).PrefixFilter(paths, kinds, sources)
    events = data.draw(st.lists(st.tuples(event_paths_near(paths), st.sampled_from(QUERY_KINDS), query_sources),
                                min_size=1, max_size=12))
    for path, kind, source in events:
        expected = ref.prefix_match_bruteforce(paths, kinds, path, kind, sources, source)
        assert prefix_filter.matches(path, kind, source) == expected, (path, kind, source)
        key = acl_rules.event_path_key(path)
        if key is not None:
            slot = acl_rules.source_slot(source)
            assert prefix_filter.match_canonical(key.encode("utf-8"), kind, slot) == expected, (key, kind, slot)


@pytest.mark.parametrize("path", [b"x", b"a/b", b"\xff", b"/\xff"])
@each_implementation
def test_c_entry_point_refuses_what_is_not_absolute(impl_name: str, path: bytes) -> None:
    impl = implementation(impl_name)
    # Callers pass canonical paths; anything else must not widen a match.
    view: Any = impl.PathTrie([ref.Rule("allow", ("*",), ("/a",))]).view(ref.Identity())
    assert not view.match_canonical(path, 0)
    assert view.match_canonical(b"/a/\xff", 0)  # the trie compares bytes; a prefix rule covers it
    assert not impl.PrefixFilter(["/a"]).match_canonical(path, 0)


@pytest.mark.parametrize("kind", [-1, 64, 1000])
@each_implementation
def test_c_entry_point_refuses_unknown_kind_ordinals(impl_name: str, kind: int) -> None:
    assert not implementation(impl_name).PrefixFilter().match_canonical(b"/x", kind)


@settings(max_examples=300, deadline=None)
@given(path=event_paths)
def test_native_canonical_check_agrees_with_canonical_path(path: str) -> None:
    # The native wrappers skip canonical_path() for paths this C check accepts.
    if NO_EXTENSIONS:
        return
    if native is None:
        pytest.fail(f"fastev._core.acl did not import: {NATIVE_ERROR!r}")
    try:
        data = path.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert native.is_canonical_utf8(data) == (canonical_path(path) == path), path


@each_implementation
def test_repeated_identities_keep_their_own_answers(impl_name: str) -> None:
    trie = implementation(impl_name).PathTrie([ref.Rule("allow", ("user:a",), ("/a",)),
                                               ref.Rule("allow", ("uid:1",), ("/b",))])
    a, one = ref.Identity(user="a"), ref.Identity(uid=1)
    for _ in range(3):
        answers = [trie.allows(who, p, 0) for who in (a, one) for p in ("/a", "/b")]
        assert answers == [True, False, False, True]
