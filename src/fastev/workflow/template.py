"""Placeholders in action arguments, URLs and headers: ``{path}``, ``{name}``, ..., ``{output.KEY}``.

A template is parsed once, when the config is loaded, so an unknown placeholder or an unbalanced
brace is a ConfigError naming its key before anything runs. Rendering substitutes values as they
are: the result is one string (one argv element), never handed to a shell, so a path with spaces,
quotes, ``;``, ``$()`` or a newline stays exactly one argument.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from ..errors import ConfigError
from ..kafka.cloudevents import rfc3339_us

__all__ = ("PLACEHOLDERS", "OUTPUT_PREFIX", "Template", "TemplateError")

PLACEHOLDERS = ("path", "name", "dir", "id", "kind", "size", "user", "time")
OUTPUT_PREFIX = "output."
_OUTPUT_KEY = re.compile(r"[A-Za-z0-9_.-]+")
_KNOWN = " ".join("{" + p + "}" for p in PLACEHOLDERS)


def _url_quote(value: str) -> str:
    return quote(value, safe="/")


class TemplateError(ValueError):
    """A template could not be rendered for one event (e.g. a missing ``{output.KEY}``)."""


def _parse(text: str, where: str, outputs: bool) -> tuple[str, ...]:
    """Literal text and placeholder names, alternating: even indexes literal, odd ones placeholders."""
    parts: list[str] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "{" and text.startswith("{{", i):
            literal.append("{")
            i += 2
        elif c == "}" and text.startswith("}}", i):
            literal.append("}")
            i += 2
        elif c == "}":
            raise ConfigError(f"{where}: unbalanced '}}' at offset {i} (write '}}}}' for a literal brace)")
        elif c == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise ConfigError(f"{where}: unclosed '{{' at offset {i} (write '{{{{' for a literal brace)")
            parts += ["".join(literal), _placeholder(text[i + 1:end], where, outputs)]
            literal = []
            i = end + 1
        else:
            literal.append(c)
            i += 1
    parts.append("".join(literal))
    return tuple(parts)


def _placeholder(name: str, where: str, outputs: bool) -> str:
    if name in PLACEHOLDERS:
        return name
    if name.startswith(OUTPUT_PREFIX):
        key = name[len(OUTPUT_PREFIX):]
        if not _OUTPUT_KEY.fullmatch(key):
            raise ConfigError(f"{where}: bad placeholder '{{{name}}}': the KEY of {{output.KEY}} is "
                              "letters, digits, '_', '.' and '-'")
        if not outputs:
            raise ConfigError(f"{where}: '{{{name}}}' needs a chained workflow (match.after): only "
                              "those have an upstream output")
        return name
    known = _KNOWN + (" {output.KEY}" if outputs else "")
    raise ConfigError(f"{where}: unknown placeholder '{{{name}}}' (known: {known})")


def _split(path: str) -> tuple[str, str]:
    """(dir, name) of an event path: "/a/b" -> ("/a", "b"), "/x" -> ("/", "x"), "/" -> ("/", "")."""
    if "/" not in path:  # "" (an event without a file): no directory either
        return "", path
    head, _, tail = path.rpartition("/")
    return head or "/", tail


def _output_value(output: Mapping[str, Any] | None, key: str) -> str:
    if output is None:
        raise TemplateError(f"{{output.{key}}}: this event has no upstream output")
    if key in output:
        value = output[key]
    else:  # a dotted KEY reaches into nested objects: {output.checksum.adler32}
        value = output
        for step in key.split("."):
            if not isinstance(value, Mapping) or step not in value:
                raise TemplateError(f"{{output.{key}}}: the upstream output has no key {key!r} "
                                    f"(it has: {', '.join(sorted(map(str, output))) or 'nothing'})")
            value = value[step]
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, int | float):
        return str(value)
    try:
        return orjson.dumps(value).decode()
    except TypeError as e:  # outputs come from JSON, so this is a caller's bug shown as a render error
        raise TemplateError(f"{{output.{key}}}: value is not JSON: {e}") from None


def _value(name: str, event: Mapping[str, Any], output: Mapping[str, Any] | None) -> str:
    if name == "path":
        return str(event["path"])
    if name == "name":
        return _split(event["path"])[1]
    if name == "dir":
        return _split(event["path"])[0]
    if name in ("id", "kind"):
        return str(event[name])
    if name in ("size", "user"):
        value = event.get(name)
        return "" if value is None else str(value)
    if name == "time":
        try:
            return rfc3339_us(event["time_us"])
        except (ValueError, TypeError, OverflowError) as e:
            raise TemplateError(f"{{time}}: time_us {event['time_us']!r} is not representable: {e}") from None
    return _output_value(output, name[len(OUTPUT_PREFIX):])


@dataclass(frozen=True)
class Template:
    """A parsed template. ``parts`` alternate literal text (even indexes) and placeholder names (odd)."""

    text: str
    parts: tuple[str, ...]

    @classmethod
    def parse(cls, text: str, where: str, *, outputs: bool) -> Template:
        """Parse ``text``; errors are ConfigErrors naming ``where``. ``outputs``: allow {output.KEY}."""
        if not isinstance(text, str):
            raise ConfigError(f"{where}: must be a string, not {type(text).__name__}")
        return cls(text, _parse(text, where, outputs))

    @property
    def placeholders(self) -> tuple[str, ...]:
        return self.parts[1::2]

    @property
    def uses_output(self) -> bool:
        return any(p.startswith(OUTPUT_PREFIX) for p in self.placeholders)

    @property
    def literal_prefix(self) -> str:
        """The text before the first placeholder (a URL's scheme and host must be in it)."""
        return self.parts[0]

    def render(self, event: Mapping[str, Any], output: Mapping[str, Any] | None = None,
               escape: Callable[[str], str] | None = None) -> str:
        """The text with every placeholder substituted (each value through ``escape`` when given);
        TemplateError if a value is missing."""
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        out = [parts[0]]
        for i in range(1, len(parts), 2):
            value = _value(parts[i], event, output)
            out += [escape(value) if escape is not None else value, parts[i + 1]]
        return "".join(out)

    def render_url(self, event: Mapping[str, Any], output: Mapping[str, Any] | None = None) -> str:
        """``render`` for a URL: every value percent-encoded except ``/`` (RFC 3986), so a path with ``?``,
        ``#``, ``%`` or a space stays inside the path and never changes the query or the host."""
        return self.render(event, output, _url_quote)

    def render_line(self, event: Mapping[str, Any], output: Mapping[str, Any] | None = None) -> str:
        """``render`` for a header value: CR, LF or NUL in the result is a TemplateError (no header injection)."""
        text = self.render(event, output)
        if "\r" in text or "\n" in text or "\x00" in text:
            raise TemplateError(f"{self.text!r}: the rendered value contains CR, LF or NUL")
        return text
