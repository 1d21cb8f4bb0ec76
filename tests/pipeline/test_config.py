"""Config errors name the key; a valid config reads back as written."""
from __future__ import annotations

from pathlib import Path

import pytest

from fastev.errors import ConfigError
from fastev.pipeline import load_config

BASE = """
[[source]]
type = "file"
format = "dcache-billing"
paths = ["in.jsonl"]
[[route]]
name = "all"
topic = "events"
"""


def load(tmp_path: Path, text: str) -> object:
    p = tmp_path / "run.toml"
    p.write_text(text, "utf-8")
    return load_config(p)


def test_a_valid_config(tmp_path: Path) -> None:
    (tmp_path / "w.json").write_text('{"sub": "/pnfs/x"}')
    cfg = load(tmp_path, """
[kafka]
bootstrap_servers = ["127.0.0.1:1", "127.0.0.1:2"]
[kafka.producer]
"linger.ms" = 20
[kafka.consumer]
"session.timeout.ms" = 3000
[[source]]
name = "raw"
type = "kafka"
format = "dcache-inotify"
topics = ["raw"]
group = "g"
inotify_watches = "w.json"
pairing_window = 16
[[source]]
type = "file"
format = "auto"
paths = ["logs/*.jsonl"]
[[route]]
name = "all"
topic = "events"
format = "confluent"
schema_id = 7
key = "id"
[[route]]
name = "bulk"
topic = "bulk"
format = "ocf"
ocf_events = 500
[dead_letter]
topic = "rejected"
[metrics]
listen = "127.0.0.1:9464"
""")
    assert cfg.bootstrap_servers == "127.0.0.1:1,127.0.0.1:2"  # type: ignore[attr-defined]
    assert cfg.producer == {"linger.ms": 20}  # type: ignore[attr-defined]
    kafka, files = cfg.sources  # type: ignore[attr-defined]
    assert (kafka.name, kafka.topics, kafka.group, kafka.pairing_window) == ("raw", ("raw",), "g", 16)
    assert kafka.decoder_options["inotify_watches"] == {"sub": "/pnfs/x"}
    assert files.name == "file-1" and files.paths == (str(tmp_path / "logs/*.jsonl"),)
    assert files.pairing_window == 128
    a, b = cfg.targets  # type: ignore[attr-defined]
    assert (a.format, a.schema_id, a.key, a.framing) == ("confluent", 7, "id", ("confluent", 7))
    assert (b.format, b.ocf_events, b.framing) == ("ocf", 500, ("avro", 0))
    assert cfg.topics() == ["events", "bulk", "rejected"]  # type: ignore[attr-defined]
    assert cfg.metrics_listen == ("127.0.0.1", 9464)  # type: ignore[attr-defined]
    assert cfg.state_dir == tmp_path / "run.state"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("text", "key"), [
    (BASE + "[bogus]\n", "'bogus'"),
    (BASE.replace('type = "file"', 'type = "ftp"'), "source[0].type"),
    (BASE.replace('format = "dcache-billing"', 'format = "billing"'), "source[0].format"),
    (BASE.replace('paths = ["in.jsonl"]\n', ""), "source[0].paths"),
    (BASE.replace('paths = ["in.jsonl"]', 'paths = "in.jsonl"\ngroup = "g"'), "source[0].group"),
    (BASE.replace('type = "file"', 'type = "kafka"').replace('paths = ["in.jsonl"]', 'topics = ["t"]'),
     "source[0].group"),
    (BASE.replace('paths = ["in.jsonl"]', 'paths = ["a"]\npairing_window = 0'), "source[0].pairing_window"),
    (BASE.replace('paths = ["in.jsonl"]', 'paths = ["a"]\ninotify_watches = "missing.json"'),
     "source[0].inotify_watches"),
    (BASE.replace('topic = "events"\n', ""), "route[0].topic"),
    (BASE + 'format = "json"\n', "route[0].format"),
    (BASE + 'key = "user"\n', "route[0].key"),
    (BASE + 'format = "confluent"\n', "route[0].schema_id"),
    (BASE + 'schema_id = 3\n', "route[0].schema_id"),
    (BASE + 'format = "ocf"\nocf_events = 0\n', "route[0].ocf_events"),
    (BASE + 'principals = ["group:x"]\n', "route[0].principals"),
    (BASE + 'kinds = ["UPLOADED"]\n', "route[0].kinds"),
    (BASE + "[[route]]\nname = \"all\"\ntopic = \"t\"\n", "route[1].name"),
    (BASE.split("[[route]]")[0], "route"),
    ("[[route]]\nname = \"a\"\ntopic = \"t\"\n", "source"),
    (BASE + "[dead_letter]\ntopic = 3\n", "dead_letter.topic"),
    (BASE + "[metrics]\nlisten = \"9464\"\n", "metrics.listen"),
    (BASE + "[kafka.producer]\n\"bootstrap.servers\" = \"x:1\"\n", "kafka.producer.bootstrap.servers"),
    (BASE + "[kafka.consumer]\n\"enable.auto.commit\" = true\n", "kafka.consumer.enable.auto.commit"),
    (BASE + "[kafka]\nbrokers = \"x\"\n", "'brokers'"),
    (BASE + "[state]\ndir = \"\"\n", "state.dir"),
    ("[[source]\n", "not valid TOML"),
])
def test_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert key in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")
