"""Placeholders: every value as docs/formats.md §1 spells it, literal braces, {output.KEY}, and hostile
paths that stay exactly one string (never a shell)."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastev.errors import ConfigError
from fastev.workflow.template import PLACEHOLDERS, Template, TemplateError


def event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "0f3e-17", "source": "dcache-billing", "kind": "UPLOAD", "raw_type": "transfer",
        "time_us": 1_770_797_645_310_000, "path": "/pnfs/example.org/data/run 7/f.root", "old_path": None,
        "is_dir": False, "size": 4096, "bytes": 4096, "duration_ms": 12, "status": 0, "status_msg": None,
        "file_id": None, "user": "alice", "uid": 1000, "gid": 100, "groups": ["/atlas"], "client": None,
        "protocol": None, "system": None, "storage_class": None, "attrs": {},
    }
    base.update(fields)
    return base


def parse(text: str, *, outputs: bool = False) -> Template:
    return Template.parse(text, "wf.toml: workflow[0] (\"w\").action.argv[1]", outputs=outputs)


def utc(time_us: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=time_us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_every_placeholder_renders_its_event_field() -> None:
    ev = event()
    rendered = {p: parse("{" + p + "}").render(ev) for p in PLACEHOLDERS}
    assert rendered == {
        "path": ev["path"], "name": "f.root", "dir": "/pnfs/example.org/data/run 7", "id": ev["id"],
        "kind": "UPLOAD", "size": "4096", "user": "alice", "time": utc(ev["time_us"]),
    }


@pytest.mark.parametrize(("path", "dir_", "name"), [
    ("/", "/", ""), ("/x", "/", "x"), ("/a/b", "/a", "b"), ("/a/b c/d e", "/a/b c", "d e"), ("", "", ""),
])
def test_name_and_dir_split_the_path_at_its_last_slash(path: str, dir_: str, name: str) -> None:
    assert parse("{dir}|{name}").render(event(path=path)) == f"{dir_}|{name}"


def test_absent_size_and_user_render_empty() -> None:
    assert parse("[{size}][{user}]").render(event(size=None, user=None)) == "[][]"
    assert parse("{size}").render(event(size=0)) == "0"


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 253_402_300_799_999_999))  # 0001..9999 years after the epoch (the representable range)
def test_time_is_rfc3339_utc_with_microseconds(time_us: int) -> None:
    assert parse("{time}").render(event(time_us=time_us)) == utc(time_us)


def test_a_time_outside_rfc3339_is_a_render_error() -> None:
    with pytest.raises(TemplateError, match=r"\{time\}"):
        parse("{time}").render(event(time_us=10**19))


def test_doubled_braces_are_literal_braces() -> None:
    t = parse("{{path}} {{{path}}} }}{{")
    assert t.placeholders == ("path",)
    assert t.render(event(path="/a")) == "{path} {/a} }{"
    assert parse("{{}}").render(event()) == "{}"


def test_parts_alternate_literal_text_and_placeholder_names() -> None:
    t = parse("a{path}b{name}{{c")
    assert t.parts == ("a", "path", "b", "name", "{c")
    assert t.parts[0::2] == ("a", "b", "{c") and t.placeholders == ("path", "name")
    assert parse("plain").parts == ("plain",) and not parse("plain").uses_output


WHERE = 'wf.toml: workflow[0] ("w").action.argv[1]'


@pytest.mark.parametrize(("text", "message"), [
    ("{pth}", f"{WHERE}: unknown placeholder '{{pth}}' (known: {{path}} {{name}} {{dir}} {{id}} {{kind}} "
              "{size} {user} {time})"),
    ("{}", f"{WHERE}: unknown placeholder '{{}}'"),
    ("{PATH}", f"{WHERE}: unknown placeholder '{{PATH}}'"),
    ("{ path}", f"{WHERE}: unknown placeholder '{{ path}}'"),
    ("x{path", f"{WHERE}: unclosed '{{' at offset 1"),
    ("x}", f"{WHERE}: unbalanced '}}' at offset 1"),
    ("{path}}", f"{WHERE}: unbalanced '}}' at offset 6"),
    ("{output.sum}", f"{WHERE}: '{{output.sum}}' needs a chained workflow (match.after)"),
    ("{output.}", f"{WHERE}: bad placeholder '{{output.}}'"),
])
def test_malformed_templates_are_config_errors_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(text)
    assert str(e.value).startswith(message)


def test_output_placeholders_are_known_only_to_chained_workflows() -> None:
    with pytest.raises(ConfigError, match=r"\(known: .* \{time\} \{output\.KEY\}\)"):
        parse("{nope}", outputs=True)
    with pytest.raises(ConfigError, match="bad placeholder"):
        parse("{output.a b}", outputs=True)
    assert parse("{output.a-b_c.9}", outputs=True).uses_output


OUTPUT = {"sum": "ad1e", "n": 7, "ratio": 0.25, "ok": True, "bad": False, "none": None,
          "list": [1, "a", None], "obj": {"k": "v", "deep": {"x": 1}}, "a.b": "literal dotted key",
          "a": {"b": "nested"}}


@pytest.mark.parametrize(("key", "expected"), [
    ("sum", "ad1e"), ("n", "7"), ("ratio", "0.25"), ("ok", "true"), ("bad", "false"), ("none", "null"),
    ("list", '[1,"a",null]'), ("obj", '{"k":"v","deep":{"x":1}}'),
    ("obj.deep.x", "1"), ("obj.k", "v"), ("a.b", "literal dotted key"),
])
def test_output_values_render_as_strings_or_compact_json(key: str, expected: str) -> None:
    t = parse("{output." + key + "}", outputs=True)
    assert t.uses_output
    assert t.render(event(), OUTPUT) == expected


@pytest.mark.parametrize("key", ["missing", "obj.missing", "sum.x", "list.0"])
def test_a_missing_output_key_is_a_render_error_that_names_it(key: str) -> None:
    with pytest.raises(TemplateError) as e:
        parse("--sum={output." + key + "}", outputs=True).render(event(), OUTPUT)
    assert f"{{output.{key}}}" in str(e.value) and repr(key) in str(e.value)


def test_no_upstream_output_at_all_is_a_render_error() -> None:
    with pytest.raises(TemplateError, match="no upstream output"):
        parse("{output.sum}", outputs=True).render(event(), None)


HOSTILE = ["/d/a b", "/d/'q'", '/d/"dq"', "/d/x; rm -rf /", "/d/$(touch pwned)", "/d/`id`", "/d/line\nbreak",
           "/d/tab\there", "/d/*", "/d/{path}", "/d/-rf", "/d/\\", "/d/a\rb", "/d/é\u0301", "/d/|&>"]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_render_as_exactly_themselves(path: str) -> None:
    ev = event(path=path)
    assert parse("{path}").render(ev) == path
    assert parse("--in={path}").render(ev) == "--in=" + path
    assert parse("{dir}/{name}").render(ev) == path


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00")), min_size=1,
                max_size=4).map(lambda parts: "/" + "/".join(parts)))
def test_any_path_stays_one_string(path: str) -> None:
    ev = event(path=path)
    assert parse("{path}").render(ev) == path
    assert parse("x{name}").render(ev) == "x" + path.rpartition("/")[2]


def test_a_real_process_receives_each_hostile_path_as_one_argument(tmp_path: Path) -> None:
    argv = [Template.parse(a, "argv", outputs=False)
            for a in (sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", "{path}", "{name}")]
    for path in HOSTILE:
        ev = event(path=path)
        done = subprocess.run([t.render(ev) for t in argv], capture_output=True, text=True, check=True,
                              cwd=tmp_path, timeout=60)
        assert json.loads(done.stdout) == [path, path.rpartition("/")[2]]
    assert list(tmp_path.iterdir()) == []  # no "$(touch pwned)" ever ran


def test_header_lines_refuse_cr_and_lf_after_rendering() -> None:
    t = parse("v={name}")
    assert t.render_line(event(path="/d/ok")) == "v=ok"
    for bad in ("/d/a\nb", "/d/a\rb", "/d/a\x00b"):
        assert t.render(event(path=bad)) == "v=" + bad.rpartition("/")[2]
        with pytest.raises(TemplateError, match="CR, LF or NUL"):
            t.render_line(event(path=bad))
