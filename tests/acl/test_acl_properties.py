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

from fastev._ref import acl as ref
from fastev.event import KINDS

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
# Cyrillic "а"), and é in NFC and NFD, which FORMATS.md §2 keeps distinct.
E_NFC = unicodedata.normalize("NFC", "é")
E_NFD = unicodedata.normalize("NFD", "é")
COMPONENTS = ["a", "ab", "\u0430", E_NFC, E_NFD, "b", "A", "a b"]
PRINCIPALS = ["*", "user:alice", "user:bob", "uid:1000", "uid:0", "group:/atlas", "group:/cms"]
QUERY_KINDS = [0, 1, 2, len(KINDS) - 1]

rule_paths = st.lists(st.sampled_from(COMPONENTS), max_size=3).map(lambda parts: "/" + "/".join(parts))
kind_masks = st.one_of(st.just(ref.ALL_KINDS),
                       st.sets(st.sampled_from(QUERY_KINDS), min_size=1).map(lambda ks: sum(1 << k for k in ks)))
rules_st = st.lists(st.builds(
    ref.Rule,
    effect=st.sampled_from(ref.EFFECTS),
    principals=st.lists(st.sampled_from(PRINCIPALS), min_size=1, max_size=3).map(tuple),
    paths=st.lists(rule_paths, min_size=1, max_size=2).map(tuple),
    kinds=kind_masks,
), max_size=8)
identities = st.builds(
    ref.Identity,
    user=st.sampled_from([None, "alice", "bob"]),
    uid=st.sampled_from([None, 0, 1000, 7]),
    groups=st.lists(st.sampled_from(["/atlas", "/cms", "/dune"]), max_size=2, unique=True).map(tuple),
)
# Raw event paths: separators that collapse ("" parts give "//"), trailing "/",
# "." and "..", NUL, relative paths, lone surrogates and the no-file path "".
raw_parts = st.sampled_from(COMPONENTS + ["", "", ".", "..", "a\x00", "\ud800"])
event_paths = st.one_of(
    st.just(""),
    st.builds(lambda lead, parts, tail: lead + "/".join(parts) + tail,
              st.sampled_from(["/", "/", "/", "//", ""]), st.lists(raw_parts, max_size=5),
              st.sampled_from(["", "", "/"])),
)
queries = st.lists(st.tuples(identities, event_paths, st.sampled_from(QUERY_KINDS)), min_size=1, max_size=12)


@each_implementation
@settings(max_examples=300, deadline=None)
@given(rules=rules_st, queries=queries)
def test_trie_and_view_agree_with_brute_force(impl_name: str, rules: list[ref.Rule],
                                              queries: list[tuple[ref.Identity, str, int]]) -> None:
    trie = implementation(impl_name).PathTrie(rules)
    for identity, path, kind in queries:
        expected = ref.allows_bruteforce(rules, identity, path, kind)
        assert trie.allows(identity, path, kind) == expected, (identity, path, kind)
        view = trie.view(identity)
        assert view.allows(path, KINDS[kind]) == expected, (identity, path, kind)
        key = ref.event_path_key(path)
        if key is not None:
            # The C entry point sees canonical UTF-8, as the transcoder passes it.
            assert view.match_canonical(key.encode("utf-8"), kind) == expected, (identity, key, kind)


@each_implementation
@settings(max_examples=200, deadline=None)
@given(paths=st.lists(rule_paths, max_size=3), kinds=st.lists(st.sampled_from(QUERY_KINDS), max_size=2),
       events=st.lists(st.tuples(event_paths, st.sampled_from(QUERY_KINDS)), min_size=1, max_size=12))
def test_prefix_filter_agrees_with_brute_force(impl_name: str, paths: list[str], kinds: list[int],
                                               events: list[tuple[str, int]]) -> None:
    prefix_filter = implementation(impl_name).PrefixFilter(paths, kinds)
    for path, kind in events:
        expected = ref.prefix_match_bruteforce(paths, kinds, path, kind)
        assert prefix_filter.matches(path, kind) == expected, (path, kind)
        key = ref.event_path_key(path)
        if key is not None:
            assert prefix_filter.match_canonical(key.encode("utf-8"), kind) == expected, (key, kind)


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
