"""Rule-file validation: every AclError names the file, the table and the key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastev.acl import Acl, Rule, load_rules, parse_rules_toml
from fastev.errors import AclError
from fastev.event import KINDS

GOOD = '[[allow]]\nprincipals = ["*"]\npaths = ["/a"]\n'

EXAMPLE = """
[[allow]]
principals = ["group:/atlas", "user:alice", "uid:1000", "*"]
paths = ["/pnfs/example.org/data/atlas"]
kinds = ["UPLOAD", "DELETE"]
[[deny]]
principals = ["user:bob"]
paths = ["/pnfs/example.org/data/atlas/private"]
"""


def test_example_file_parses() -> None:
    rules = parse_rules_toml(EXAMPLE, "example.toml")
    up_del = 1 << KINDS.index("UPLOAD") | 1 << KINDS.index("DELETE")
    assert rules == [
        Rule("allow", ("group:/atlas", "user:alice", "uid:1000", "*"), ("/pnfs/example.org/data/atlas",),
             up_del),
        Rule("deny", ("user:bob",), ("/pnfs/example.org/data/atlas/private",), (1 << len(KINDS)) - 1),
    ]


@pytest.mark.parametrize(("text", "where"), [
    (GOOD + '[[allow]]\nprincipals = ["*"]\npaths = ["/a"]\ncolour = "red"\n', "allow[1].colour"),
    (GOOD + '[[deny]]\nprincipals = "user:bob"\npaths = ["/a"]\n', "deny[0].principals"),
    (GOOD + '[[deny]]\nprincipals = [1]\npaths = ["/a"]\n', "deny[0].principals"),
    (GOOD + '[[deny]]\nprincipals = []\npaths = ["/a"]\n', "deny[0].principals"),
    (GOOD + '[[deny]]\npaths = ["/a"]\n', "deny[0].principals"),
    (GOOD + '[[deny]]\nprincipals = ["*"]\npaths = []\n', "deny[0].paths"),
    (GOOD + '[[deny]]\nprincipals = ["*"]\n', "deny[0].paths"),
    (GOOD + '[[deny]]\nprincipals = ["*"]\npaths = "/a"\n', "deny[0].paths"),
    (GOOD + '[[allow]]\nprincipals = ["*"]\npaths = ["/a"]\nkinds = ["UPLAOD"]\n', "allow[1].kinds"),
    (GOOD + '[[allow]]\nprincipals = ["*"]\npaths = ["/a"]\nkinds = ["upload"]\n', "allow[1].kinds"),
    (GOOD + '[[allow]]\nprincipals = ["*"]\npaths = ["/a"]\nkinds = []\n', "allow[1].kinds"),
    (GOOD + '[[allow]]\nprincipals = ["*"]\npaths = ["/a"]\nkinds = "UPLOAD"\n', "allow[1].kinds"),
    ("allow = 3\n", "allow"),
    ('allow = ["x"]\n', "allow[0]"),
    ('[allow]\nprincipals = ["*"]\npaths = ["/a"]\n', "allow"),
    ('[[permit]]\nprincipals = ["*"]\npaths = ["/a"]\n', "permit"),
])
def test_invalid_tables_name_file_table_and_key(text: str, where: str) -> None:
    with pytest.raises(AclError) as caught:
        parse_rules_toml(text, "rules.toml")
    assert str(caught.value).startswith(f"rules.toml: {where}: "), str(caught.value)


@pytest.mark.parametrize("path", ["/a/../b", "/a/..", "/./a", "a/b", "", "relative", "/a/\x00"])
def test_non_canonical_rule_paths(path: str) -> None:
    text = f'[[allow]]\nprincipals = ["*"]\npaths = {json.dumps(["/ok", path])}\n'
    with pytest.raises(AclError, match=r"^rules\.toml: allow\[0\]\.paths: "):
        parse_rules_toml(text, "rules.toml")


@pytest.mark.parametrize("principal", ["", "admin", "user:", "group:", "uid:", "uid:-1", "uid:1a", "uid:١",
                                       "USER:alice", "**", "role:x"])
def test_invalid_principals(principal: str) -> None:
    text = f'[[deny]]\nprincipals = ["{principal}"]\npaths = ["/a"]\n'
    with pytest.raises(AclError, match=r"^rules\.toml: deny\[0\]\.principals: invalid principal"):
        parse_rules_toml(text, "rules.toml")


def test_uid_principals_are_normalised() -> None:
    rules = parse_rules_toml('[[allow]]\nprincipals = ["uid:0007", "uid:0"]\npaths = ["/a"]\n', "r.toml")
    assert rules[0].principals == ("uid:7", "uid:0")


def test_not_toml() -> None:
    with pytest.raises(AclError, match=r"^rules\.toml: not valid TOML"):
        parse_rules_toml("[[allow]\nprincipals = ", "rules.toml")


def test_rule_file_on_disk(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(EXAMPLE, "utf-8")
    assert len(load_rules(good)) == 2
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[[allow]]")
    with pytest.raises(AclError, match="binary.toml: not valid TOML"):
        Acl.from_toml(binary)
    with pytest.raises(AclError, match="missing.toml"):
        Acl.from_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD + '[[allow]]\nprincipals = ["*"]\npaths = ["/a"]\nkinds = ["X"]\n', "utf-8")
    with pytest.raises(AclError, match=r"bad\.toml: allow\[1\]\.kinds: unknown kind 'X'"):
        Acl.from_toml(bad)
