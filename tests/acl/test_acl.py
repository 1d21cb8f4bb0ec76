"""ACL behaviour through the facade (run once natively and once with FASTEV_NO_EXTENSIONS=1)."""
from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from fastev.acl import Acl, Identity, PrefixFilter, Rule, identity_from_principals
from fastev.errors import AclError, ConfigError
from fastev.event import KINDS, Kind

ATLAS = Identity(user="alice", uid=1000, groups=("/atlas",))
BOB = Identity(user="bob", uid=1001, groups=("/atlas",))
NOBODY = Identity()


def acl(text: str) -> Acl:
    return Acl.from_text(text, "test.toml")


def rule(principals: str, paths: str, kinds: str = "", effect: str = "allow") -> str:
    kinds_line = f"kinds = [{kinds}]\n" if kinds else ""
    return f"[[{effect}]]\nprincipals = [{principals}]\npaths = [{paths}]\n{kinds_line}"


def test_component_prefix_never_matches_a_sibling() -> None:
    a = acl(rule('"*"', '"/data/a"'))
    assert a.allows(NOBODY, "/data/a", "UPLOAD")
    assert a.allows(NOBODY, "/data/a/x/y", "UPLOAD")
    assert not a.allows(NOBODY, "/data/ab", "UPLOAD")
    assert not a.allows(NOBODY, "/data/ab/x", "UPLOAD")
    assert not a.allows(NOBODY, "/data", "UPLOAD")


@pytest.mark.parametrize("path", ["/data//a/x", "//data/a", "/data/a/", "/data/a//", "/data///a///x/"])
def test_event_paths_are_canonicalised(path: str) -> None:
    assert acl(rule('"*"', '"/data/a"')).allows(NOBODY, path, "UPLOAD")


@pytest.mark.parametrize("path", ["/data/a/../a", "/data/a/..", "/data/a/./x", "/data/a/.", "data/a",
                                  "a", "/data/a/\x00", "/data/a\x00/x", "/data/a/\ud800"])
def test_non_canonical_event_paths_are_never_allowed(path: str) -> None:
    assert not acl(rule('"*"', '"/"')).allows(NOBODY, path, "UPLOAD")


def test_rule_paths_are_canonicalised() -> None:
    a = acl(rule('"*"', '"//data//a/"'))
    assert a.rules[0].paths == ("/data/a",)
    assert a.allows(NOBODY, "/data/a/x", "UPLOAD")


def test_empty_path_is_covered_only_by_root_rules() -> None:
    assert not acl(rule('"*"', '"/pnfs"')).allows(NOBODY, "", "REQUEST")
    assert acl(rule('"*"', '"/"')).allows(NOBODY, "", "REQUEST")
    assert not acl(rule('"*"', '"/"') + rule('"*"', '"/"', effect="deny")).allows(NOBODY, "", "REQUEST")
    # A deny below the root does not touch the no-file path.
    assert acl(rule('"*"', '"/"') + rule('"*"', '"/x"', effect="deny")).allows(NOBODY, "", "REQUEST")


def test_deny_wins_at_any_depth() -> None:
    a = acl(rule('"*"', '"/deep/er"') + rule('"*"', '"/deep"', effect="deny"))
    assert not a.allows(NOBODY, "/deep/er", "UPLOAD")
    assert not a.allows(NOBODY, "/deep/er/x", "UPLOAD")
    b = acl(rule('"*"', '"/deep"') + rule('"*"', '"/deep/er"', effect="deny"))
    assert b.allows(NOBODY, "/deep/x", "UPLOAD")
    assert b.allows(NOBODY, "/deep/e", "UPLOAD")
    assert not b.allows(NOBODY, "/deep/er", "UPLOAD")
    assert not b.allows(NOBODY, "/deep/er/x", "UPLOAD")


def test_deny_applies_only_to_its_principals_and_kinds() -> None:
    a = acl(rule('"group:/atlas"', '"/atlas"')
            + rule('"user:bob"', '"/atlas/private"', '"DELETE"', effect="deny"))
    assert a.allows(ATLAS, "/atlas/private/f", "DELETE")
    assert not a.allows(BOB, "/atlas/private/f", "DELETE")
    assert a.allows(BOB, "/atlas/private/f", "UPLOAD")


def test_kinds_default_to_all_and_restrict_when_given() -> None:
    every = acl(rule('"*"', '"/d"'))
    assert all(every.allows(NOBODY, "/d/f", k) for k in KINDS)
    some = acl(rule('"*"', '"/d"', '"UPLOAD", "DELETE"'))
    assert [k for k in KINDS if some.allows(NOBODY, "/d/f", k)] == ["UPLOAD", "DELETE"]


def test_kind_may_be_symbol_ordinal_or_enum() -> None:
    a = acl(rule('"*"', '"/d"', '"DELETE"'))
    assert a.allows(NOBODY, "/d", "DELETE")
    assert a.allows(NOBODY, "/d", KINDS.index("DELETE"))
    assert a.allows(NOBODY, "/d", Kind.DELETE)
    assert not a.allows(NOBODY, "/d", 0)
    for bad in ("delete", "NOPE", -1, len(KINDS), True):
        with pytest.raises(ValueError):
            a.allows(NOBODY, "/d", bad)


def test_star_matches_every_identity() -> None:
    a = acl(rule('"*"', '"/pub"'))
    for who in (NOBODY, ATLAS, BOB, Identity(uid=0)):
        assert a.allows(who, "/pub/x", "DOWNLOAD")


@pytest.mark.parametrize(("principal", "allowed"), [
    ("user:alice", {"alice"}), ("uid:1001", {"bob"}), ("uid:0001001", {"bob"}),
    ("group:/atlas", {"alice", "bob"}), ("group:/cms", set()), ("user:/atlas", set()),
])
def test_user_uid_and_group_principals(principal: str, allowed: set[str]) -> None:
    a = acl(rule(f'"{principal}"', '"/d"'))
    assert {who.user for who in (ATLAS, BOB) if a.allows(who, "/d", "UPLOAD")} == allowed
    assert not a.allows(NOBODY, "/d", "UPLOAD")


def test_no_rules_means_deny() -> None:
    a = acl("")
    assert a.rules == ()
    assert not a.allows(ATLAS, "/", "UPLOAD")
    assert not a.allows(ATLAS, "", "UPLOAD")
    assert not a.view(ATLAS).allows("/x", "UPLOAD")


def test_only_deny_rules_means_deny() -> None:
    assert not acl(rule('"*"', '"/x"', effect="deny")).allows(ATLAS, "/y", "UPLOAD")


def test_unicode_is_compared_byte_for_byte() -> None:
    nfc = unicodedata.normalize("NFC", "/data/é")
    nfd = unicodedata.normalize("NFD", "/data/é")
    assert nfc != nfd
    a = acl(rule('"*"', f'"{nfc}"') + rule('"*"', '"/data/a"'))
    assert a.allows(NOBODY, nfc + "/x", "UPLOAD")
    assert not a.allows(NOBODY, nfd + "/x", "UPLOAD")
    assert a.allows(NOBODY, "/data/a", "UPLOAD")
    assert not a.allows(NOBODY, "/data/\u0430", "UPLOAD")  # Cyrillic a
    assert not a.allows(NOBODY, "/data/A", "UPLOAD")


def test_view_agrees_with_the_acl() -> None:
    a = acl(rule('"group:/atlas"', '"/atlas"') + rule('"user:bob"', '"/atlas/private"', effect="deny"))
    for who in (ATLAS, BOB, NOBODY):
        view = a.view(who)
        assert view.identity == who
        for path in ("/atlas", "/atlas/private", "/atlas/private/x", "/atlas/p", "/", "", "/atlas/../x"):
            assert view.allows(path, "UPLOAD") == a.allows(who, path, "UPLOAD"), (who, path)


def test_wide_fan_out() -> None:
    # Many siblings exercise the per-node child search.
    names = [f"vo{i:04d}" for i in range(0, 2000, 2)]
    text = "".join(rule(f'"group:{n}"', f'"/pnfs/site/data/{n}"') for n in names)
    a = acl(text)
    for i in range(0, 2000, 37):
        name = f"vo{i:04d}"
        who = Identity(groups=(name,))
        assert a.allows(who, f"/pnfs/site/data/{name}/f", "UPLOAD") == (i % 2 == 0)
        assert not a.allows(who, f"/pnfs/site/data/vo{(i + 2) % 2000:04d}/f", "UPLOAD")


def test_from_toml_and_from_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(rule('"*"', '"/d"'), "utf-8")
    a = Acl.from_toml(path)
    assert a.allows(NOBODY, "/d", "UPLOAD")
    assert Acl.from_rules(a.rules).rules == a.rules
    assert Acl.from_rules([Rule("allow", ("*",), ("/d",))]).allows(NOBODY, "/d/x", 0)


@pytest.mark.parametrize("bad", [
    Rule("allow", ("*",), ("/a/../b",)), Rule("allow", ("*",), ("/a/",)), Rule("allow", ("*",), ()),
    Rule("allow", (), ("/a",)), Rule("allow", ("root",), ("/a",)), Rule("permit", ("*",), ("/a",)),  # type: ignore[arg-type]
    Rule("allow", ("*",), ("/a",), 1 << len(KINDS)),
])
def test_from_rules_refuses_what_the_parser_would(bad: Rule) -> None:
    with pytest.raises(AclError):
        Acl.from_rules([bad])


def test_prefix_filter() -> None:
    f = PrefixFilter(["/data/a", "//data/b/"], ["UPLOAD"])
    assert f.matches("/data/a/x", "UPLOAD")
    assert f.matches("/data/b", 0)
    assert not f.matches("/data/ab", "UPLOAD")
    assert not f.matches("/data/a/x", "DELETE")
    assert not f.matches("/data/a/../b", "UPLOAD")
    assert not f.matches("", "UPLOAD")
    everything = PrefixFilter()
    assert everything.matches("", "OTHER")
    assert everything.matches("/x", "DELETE")
    assert not everything.matches("x", "DELETE")
    assert PrefixFilter(["/"], []).matches("", "UPLOAD")
    with pytest.raises(AclError):
        PrefixFilter(["/a/.."])
    with pytest.raises(AclError):
        PrefixFilter([], ["NOPE"])
    with pytest.raises(AclError):
        PrefixFilter("/data/a")


def test_identity_from_principals() -> None:
    assert identity_from_principals(["group:/atlas"]) == Identity(groups=("/atlas",))
    assert identity_from_principals(["*", "user:a", "uid:07", "group:x", "group:y", "group:x"]) == \
        Identity(user="a", uid=7, groups=("x", "y"))
    for bad in (["user:a", "user:b"], ["uid:1", "uid:2"], ["admin"], ["uid:x"]):
        with pytest.raises(AclError):
            identity_from_principals(bad)


def test_acl_error_is_a_config_error() -> None:
    assert issubclass(AclError, ConfigError)
