"""`fastev acl kafka-bindings`: Kafka ACL bindings from the pipeline's routes (no broker needed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastev.errors import ConfigError
from fastev.kafka.bindings import KafkaAclBinding, kafka_principal, plan_bindings

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}

ACL = """\
[[allow]]
principals = ["group:/atlas", "user:alice", "uid:1000"]
paths = ["/data/atlas"]
[[allow]]
principals = ["user:bob", "*"]
paths = ["/data/cms"]
"""

CONFIG = """\
[kafka]
bootstrap_servers = "k1:9092"
[[source]]
type = "stdin"
format = "auto"
[acl]
file = "acl.toml"
[[route]]
name = "atlas"
topic = "atlas-events"
principals = ["group:/atlas", "user:alice", "uid:01000"]
[[route]]
name = "cms"
topic = "cms-events"
principals = ["user:bob", "*"]
[[route]]
name = "all"
topic = "all-events"
[[route]]
name = "atlas-again"
topic = "atlas-events"
principals = ["user:alice", "group:/atlas", "uid:1000"]
[dead_letter]
topic = "rejected"
"""


def _b(principal: str, op: str, topic: str) -> dict[str, str]:
    return {"principal": principal, "host": "*", "operation": op, "permission": "ALLOW",
            "resource_type": "TOPIC", "resource_name": topic, "pattern_type": "LITERAL"}


EXPECTED = [
    _b("Group:/atlas", "READ", "atlas-events"), _b("Group:/atlas", "DESCRIBE", "atlas-events"),
    _b("User:alice", "READ", "atlas-events"), _b("User:alice", "DESCRIBE", "atlas-events"),
    _b("User:uid-1000", "READ", "atlas-events"), _b("User:uid-1000", "DESCRIBE", "atlas-events"),
    _b("User:bob", "READ", "cms-events"), _b("User:bob", "DESCRIBE", "cms-events"),
    _b("User:*", "READ", "cms-events"), _b("User:*", "DESCRIBE", "cms-events"),
]

EXPECTED_COMMANDS = [
    "kafka-acls --bootstrap-server k1:9092 --add --allow-principal Group:/atlas --operation Read "
    "--operation Describe --topic atlas-events --resource-pattern-type literal",
    "kafka-acls --bootstrap-server k1:9092 --add --allow-principal User:alice --operation Read "
    "--operation Describe --topic atlas-events --resource-pattern-type literal",
    "kafka-acls --bootstrap-server k1:9092 --add --allow-principal User:uid-1000 --operation Read "
    "--operation Describe --topic atlas-events --resource-pattern-type literal",
    "kafka-acls --bootstrap-server k1:9092 --add --allow-principal User:bob --operation Read "
    "--operation Describe --topic cms-events --resource-pattern-type literal",
    "kafka-acls --bootstrap-server k1:9092 --add --allow-principal 'User:*' --operation Read "
    "--operation Describe --topic cms-events --resource-pattern-type literal",
]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "acl.toml").write_text(ACL)
    (tmp_path / "pipeline.toml").write_text(CONFIG)
    return tmp_path / "acl.toml", tmp_path / "pipeline.toml"


def load_plan(acl: Path, config: Path, **kw: object):  # noqa: ANN201 - a BindingPlan
    from fastev.pipeline.config import load_config

    return plan_bindings(acl, load_config(config), **kw)  # type: ignore[arg-type]


def test_the_kafka_layer_does_not_import_the_layers_above_it() -> None:
    """kafka/ sits below pipeline/, sse/ and commands/: e.g. plan_bindings gets the loaded
    pipeline config passed in instead of importing pipeline.config."""
    import ast

    upward = []
    for module in (Path(__file__).parents[2] / "src" / "fastev" / "kafka").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                name = "." * node.level + node.module
                if name.lstrip(".").split(".")[0] in ("pipeline", "sse", "commands", "cli") or any(
                        f"fastev.{top}" in name for top in ("pipeline", "sse", "commands", "cli")):
                    upward.append(f"{module.name}: {name}")
    assert upward == []


def fastev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastev", "acl", "kafka-bindings", *args],
                          capture_output=True, text=True, env=ENV, timeout=60)


def test_principal_mapping() -> None:
    assert kafka_principal("user:alice") == "User:alice"
    assert kafka_principal("group:/atlas") == "Group:/atlas"
    assert kafka_principal("uid:007") == "User:uid-7"
    assert kafka_principal("*") == "User:*"
    for bad in ("alice", "uid:x", "host:h", "user:"):
        with pytest.raises(ConfigError):
            kafka_principal(bad)


def test_bindings_equal_hand_written_list(files: tuple[Path, Path]) -> None:
    plan = load_plan(*files)
    assert [b.to_dict() for b in plan.bindings] == EXPECTED
    assert all(isinstance(b, KafkaAclBinding) for b in plan.bindings)
    notes = "\n".join(plan.notes)
    assert "route 'all'" in notes and "no reader bindings" in notes
    assert "dead-letter topic rejected: no reader bindings" in notes
    assert not any(b.resource_name in ("all-events", "rejected") for b in plan.bindings)


def test_dead_letter_readers_only_when_given(files: tuple[Path, Path]) -> None:
    plan = load_plan(*files, dead_letter_principals=["user:ops"])
    assert [b.to_dict() for b in plan.bindings] == EXPECTED + [
        _b("User:ops", "READ", "rejected"), _b("User:ops", "DESCRIBE", "rejected")]


def test_json_output(files: tuple[Path, Path]) -> None:
    acl, config = files
    r = fastev("--acl", str(acl), "--config", str(config), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == EXPECTED
    assert "ALL of its listed principals" in r.stderr  # the header goes to stderr, stdout stays JSON


def test_commands_output(files: tuple[Path, Path]) -> None:
    acl, config = files
    r = fastev("--acl", str(acl), "--config", str(config), "--format", "commands")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    comments = [line for line in lines if line.startswith("#")]
    assert lines[:len(comments)] == comments  # header first
    assert any("ALL of its listed principals" in c and "may see" in c for c in comments)
    assert any("by construction" in c for c in comments)
    assert any("route 'all'" in c for c in comments)
    assert [line for line in lines if not line.startswith("#")] == EXPECTED_COMMANDS


def test_both_and_bootstrap_override(files: tuple[Path, Path]) -> None:
    acl, config = files
    r = fastev("--acl", str(acl), "--config", str(config), "--bootstrap-server", "broker:9093")
    assert r.returncode == 0, r.stderr
    head, _, tail = r.stdout.partition("\n[")
    assert json.loads("[" + tail) == EXPECTED
    cmds = [line for line in head.splitlines() if line.startswith("kafka-acls")]
    assert cmds == [c.replace("k1:9092", "broker:9093") for c in EXPECTED_COMMANDS]


@pytest.mark.parametrize("config, message", [
    ("[[source]]\ntype = \"stdin\"\n[[route]]\nname = \"r\"\n", "topic"),
    ("not toml [", "not valid TOML"),
    (CONFIG.replace('"uid:01000"', '"uid:abc"'), "invalid principal"),
    (CONFIG.replace('topic = "cms-events"', 'topic = "atlas-events"'), "different principals"),
    (CONFIG.replace('topic = "rejected"', 'topic = "cms-events"'), "dead-letter"),
    (CONFIG.replace('file = "acl.toml"', 'file = "other.toml"'), "not the ACL the config uses"),
])
def test_bad_config_exits_2(files: tuple[Path, Path], config: str, message: str) -> None:
    acl, path = files
    path.write_text(config)
    # A different, valid ACL: the config must name a readable one (pipeline.config loads it up front).
    (path.parent / "other.toml").write_text('[[allow]]\nprincipals = ["user:z"]\npaths = ["/z"]\n')
    r = fastev("--acl", str(acl), "--config", str(path))
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("fastev: error: ") and message in r.stderr


def test_bad_acl_exits_2(files: tuple[Path, Path]) -> None:
    acl, config = files
    acl.write_text('[[allow]]\nprincipals = ["user:a"]\npaths = ["relative/path"]\n')
    r = fastev("--acl", str(acl), "--config", str(config))
    assert r.returncode == 2 and r.stderr.startswith("fastev: error: ")
    acl.write_text(ACL)  # the config's own ACL is loaded with the config: keep it valid for the next case
    r = fastev("--acl", str(acl.parent / "missing.toml"), "--config", str(config))
    assert r.returncode == 2 and "cannot read" in r.stderr
