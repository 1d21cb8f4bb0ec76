"""The Matcher against a deliberately naive one written here: component prefixes by splitting on '/',
globs by a tiny recursive matcher, sizes, principals and kinds, on paths built to be near misses."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastev.event import KINDS
from fastev.workflow.config import MatchSpec
from fastev.workflow.match import Matcher, compile_glob

# ---------------------------------------------------------------- the naive oracle


def components(path: str) -> list[str]:
    return [c for c in path.split("/") if c]


def under(prefix: str, path: str) -> bool:
    """/a/b is under /a/b and /a, not under /a/bc; "" (no file) is under nothing."""
    if not path.startswith("/"):
        return False
    want = components(prefix)
    return components(path)[:len(want)] == want


def parse_set(pat: str) -> tuple[bool, list[tuple[str, str]], str] | None:
    """``[...]`` at the start of ``pat``: (negated, ranges, rest), or None if it is malformed."""
    i = 1
    negated = pat[i:i + 1] == "!"
    i += negated
    ranges: list[tuple[str, str]] = []
    first = True
    while True:
        if i >= len(pat):
            return None                                  # unclosed
        ch = pat[i]
        if ch == "]" and not first:
            return negated, ranges, pat[i + 1:]
        first = False
        if i + 2 < len(pat) and pat[i + 1] == "-" and pat[i + 2] != "]":
            if ch > pat[i + 2]:
                return None                              # reversed range
            ranges.append((ch, pat[i + 2]))
            i += 3
        else:
            ranges.append((ch, ch))
            i += 1


def glob_valid(pat: str) -> bool:
    if not pat or "/" in pat:
        return False
    while pat:
        if pat[0] == "[":
            parsed = parse_set(pat)
            if parsed is None:
                return False
            pat = parsed[2]
        else:
            pat = pat[1:]
    return True


def glob(pat: str, name: str) -> bool:
    if not pat:
        return name == ""
    if pat[0] == "*":
        return any(glob(pat[1:], name[i:]) for i in range(len(name) + 1))
    if not name:
        return False
    if pat[0] == "?":
        return glob(pat[1:], name[1:])
    if pat[0] == "[":
        parsed = parse_set(pat)
        assert parsed is not None
        negated, ranges, rest = parsed
        inside = any(lo <= name[0] <= hi for lo, hi in ranges)
        return inside != negated and glob(rest, name[1:])
    return pat[0] == name[0] and glob(pat[1:], name[1:])


def naive_matches(spec: MatchSpec, event: dict[str, Any]) -> bool:
    path = event["path"]
    if spec.paths and not any(under(p, path) for p in spec.paths):
        return False
    if spec.kinds and event["kind"] not in spec.kinds:
        return False
    if spec.names and not any(glob(g, path.split("/")[-1]) for g in spec.names):
        return False
    if spec.min_size is not None or spec.max_size is not None:
        size = event["size"]
        if size is None:
            return False
        if spec.min_size is not None and size < spec.min_size:
            return False
        if spec.max_size is not None and size > spec.max_size:
            return False
    if spec.principals:
        own = [f"group:{g}" for g in event["groups"]]
        if event["user"]:
            own.append(f"user:{event['user']}")
        if event["uid"] is not None:
            own.append(f"uid:{event['uid']}")
        if not any(p in own for p in spec.principals):
            return False
    return True


# ---------------------------------------------------------------- strategies

# Components chosen to collide: prefixes of each other (b, bc), glob metacharacters as names.
COMPONENTS = ["a", "b", "bc", "ab", "a.root", "x.h5", "b.root.gz", "]", "!x", "[a", "-", ".h5", "A.ROOT", "é"]
GLOB_CHARS = "ab.rot*?[]!-h5A"
NAME_CHARS = "ab.rot[]!-h5Aé"

spec_paths = st.lists(st.sampled_from(COMPONENTS[:6]), max_size=3).map(lambda c: "/" + "/".join(c))
glob_texts = st.text(st.sampled_from(GLOB_CHARS), min_size=1, max_size=7)
valid_globs = glob_texts.filter(glob_valid)
PRINCIPALS = ["user:alice", "user:bob", "uid:0", "uid:1000", "group:/atlas", "group:/cms", "group:alice",
              "user:/atlas"]
specs = st.builds(
    MatchSpec,
    paths=st.lists(spec_paths, max_size=2).map(tuple),
    kinds=st.sets(st.sampled_from(KINDS[:4]), max_size=2).map(frozenset),
    names=st.lists(valid_globs, max_size=2).map(tuple),
    min_size=st.one_of(st.none(), st.integers(0, 4)),
    max_size=st.one_of(st.none(), st.integers(2, 6)),
    principals=st.lists(st.sampled_from(PRINCIPALS), max_size=2).map(tuple),
)


@st.composite
def paths_near(draw: st.DrawFn, spec: MatchSpec) -> str:
    """Mostly a spec path itself, its parent, a sibling sharing its text (/a/b -> /a/bc), or below it."""
    if not spec.paths or draw(st.integers(0, 5)) == 0:
        how = draw(st.sampled_from(["random", "random", "root", "none"]))
        if how == "root":
            return "/"
        if how == "none":
            return ""  # an event without a file
        return "/" + "/".join(draw(st.lists(st.sampled_from(COMPONENTS), max_size=4)))
    parts = components(draw(st.sampled_from(spec.paths)))
    how = draw(st.sampled_from(["same", "below", "below", "sibling", "parent", "stem"]))
    if how == "sibling" and parts:
        parts[-1] += draw(st.sampled_from(["c", "b", ".root", " "]))
    elif how == "stem" and parts:
        parts[-1] = parts[-1][:-1] or "x"  # /a/bc -> /a/b
    elif how == "parent" and parts:
        parts.pop()
    if how in ("below", "sibling", "stem"):
        parts += draw(st.lists(st.one_of(st.sampled_from(COMPONENTS), st.text(st.sampled_from(NAME_CHARS),
                                                                               min_size=1, max_size=6)),
                               min_size=how == "below", max_size=2))
    return "/" + "/".join(parts)


def events_for(spec: MatchSpec) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "path": paths_near(spec),
        "kind": st.sampled_from(KINDS[:5]),
        "size": st.one_of(st.none(), st.integers(0, 7)),
        "user": st.sampled_from([None, "", "alice", "bob", "/atlas"]),
        "uid": st.sampled_from([None, 0, 7, 1000]),
        "groups": st.lists(st.sampled_from(["/atlas", "/cms", "alice"]), max_size=2, unique=True),
    })


# ---------------------------------------------------------------- properties


@settings(max_examples=500, deadline=None)
@given(spec=specs, data=st.data())
def test_matcher_agrees_with_the_naive_matcher(spec: MatchSpec, data: st.DataObject) -> None:
    matcher = Matcher(spec)
    for event in data.draw(st.lists(events_for(spec), min_size=1, max_size=8)):
        assert matcher.matches(event) == naive_matches(spec, event), event


@settings(max_examples=1000, deadline=None)
@given(pattern=glob_texts, names=st.lists(st.text(st.sampled_from(NAME_CHARS), max_size=6), max_size=6))
def test_compiled_globs_agree_with_the_recursive_matcher(pattern: str, names: list[str]) -> None:
    valid = glob_valid(pattern)
    try:
        compiled = compile_glob(pattern)
    except ValueError:
        assert not valid, pattern
        return
    assert valid, pattern
    for name in names + [pattern]:
        assert bool(compiled.fullmatch(name)) == glob(pattern, name), (pattern, name)


# ---------------------------------------------------------------- examples


def ev(path: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"path": path, "kind": "UPLOAD", "size": 10, "user": "alice", "uid": 1000,
                            "groups": ["/atlas"]}
    base.update(fields)
    return base


def test_no_conditions_match_every_event() -> None:
    m = Matcher(MatchSpec())
    assert all(m.matches(ev(p, size=None, user=None, uid=None, groups=[])) for p in ("/", "", "/a/b"))


def test_paths_are_component_prefixes() -> None:
    m = Matcher(MatchSpec(paths=("/a/b",)))
    assert [m.matches(ev(p)) for p in ("/a/b", "/a/b/c", "/a/bc", "/a", "/a/b c", "/", "")] == \
        [True, True, False, False, False, False, False]
    assert Matcher(MatchSpec(paths=("/",))).matches(ev("/x")) and not Matcher(MatchSpec(paths=("/",))).matches(ev(""))


@pytest.mark.parametrize(("glob_", "name", "expected"), [
    ("*.root", "f.root", True), ("*.root", "f.root.gz", False), ("*.root", ".root", True),
    ("*.ROOT", "f.root", False), ("?.h5", "a.h5", True), ("?.h5", "ab.h5", False),
    ("[ab]*", "b1", True), ("[!ab]*", "b1", False), ("[!ab]*", "c1", True), ("[a-c]x", "bx", True),
    ("[]]", "]", True), ("[!]]", "]", False), ("[a-]", "-", True), ("[*]", "*", True), ("[*]", "a", False),
    ("*", "", True), ("run[0-9][0-9]", "run07", True), ("run[0-9][0-9]", "run7", False),
])
def test_glob_examples(glob_: str, name: str, expected: bool) -> None:
    assert glob(glob_, name) == expected  # the oracle itself, on cases whose answer is known
    assert Matcher(MatchSpec(names=(glob_,))).matches(ev("/d/" + name if name else "/")) == expected


def test_globs_see_only_the_last_component() -> None:
    m = Matcher(MatchSpec(names=("*.root",)))
    assert m.matches(ev("/x.root/f.root")) and not m.matches(ev("/x.root/f")) and not m.matches(ev("/d/f.root/x"))
    assert Matcher(MatchSpec(names=("*",))).matches(ev("/a/b"))


def test_sizes_are_inclusive_and_need_a_size() -> None:
    m = Matcher(MatchSpec(min_size=1, max_size=10))
    assert [m.matches(ev("/f", size=s)) for s in (None, 0, 1, 10, 11)] == [False, False, True, True, False]
    assert not Matcher(MatchSpec(min_size=0)).matches(ev("/f", size=None))
    assert Matcher(MatchSpec(min_size=0)).matches(ev("/f", size=0))


def test_principals_are_the_events_own_user_uid_and_groups() -> None:
    m = Matcher(MatchSpec(principals=("group:/atlas", "uid:7")))
    assert m.matches(ev("/f", groups=["/cms", "/atlas"], uid=None))
    assert m.matches(ev("/f", groups=[], uid=7))
    assert not m.matches(ev("/f", groups=["/cms"], uid=1000, user="/atlas"))
    assert not Matcher(MatchSpec(principals=("user:",))).matches(ev("/f", user=""))
    assert Matcher(MatchSpec(principals=("uid:0",))).matches(ev("/f", uid=0))


def test_kinds_and_all_conditions_together() -> None:
    spec = MatchSpec(paths=("/pnfs/atlas/raw",), kinds=frozenset({"CLOSE_WRITE", "UPLOAD"}),
                     names=("*.root", "*.h5"), min_size=1, principals=("group:/atlas",))
    m = Matcher(spec)
    good = ev("/pnfs/atlas/raw/run1/f.root", kind="CLOSE_WRITE")
    assert m.matches(good)
    for change in ({"kind": "DELETE"}, {"path": "/pnfs/atlas/rawdata/f.root"}, {"path": "/pnfs/atlas/raw/f.txt"},
                   {"size": 0}, {"size": None}, {"groups": ["/cms"]}):
        assert not m.matches({**good, **change}), change
