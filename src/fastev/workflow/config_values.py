"""Typed readers for the workflow config: each checks one TOML value and names its key when it is wrong.

The conventions are those of ``fastev run`` (fastev/pipeline/config.py): unknown keys with a "did you
mean", wrong types and ranges named with the value found.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ("NAME", "table", "unknown_keys", "suggest", "nonempty_str", "choice", "nonempty_list", "integer",
           "seconds", "topic_name", "librdkafka_options", "listen_address", "secret_file")

NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")   # workflow names and Kafka topic names


def table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table")
    return value


def unknown_keys(section: dict[str, Any], known: frozenset[str], where: str) -> None:
    extra = sorted(set(section) - known)
    if extra:
        raise ConfigError(f"{where}: unknown key {extra[0]!r}{suggest(extra[0], known)} "
                          f"(known: {', '.join(sorted(known))})")


def suggest(key: str, known: frozenset[str] | tuple[str, ...]) -> str:
    """``; did you mean 'workflow'?`` for a near miss, else nothing."""
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def nonempty_str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: must be a non-empty string")
    return value


def choice(value: Any, choices: tuple[str, ...], where: str) -> str:
    if value not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(choices)}")
    return str(value)


def nonempty_list(value: Any, where: str, hint: str = "") -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: must be a non-empty list{hint}")
    return value


def integer(value: Any, where: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ConfigError(f"{where}: must be an integer {bound}, not {value!r}")
    return value


def seconds(value: Any, where: str, *, zero_ok: bool = False) -> float:
    """A finite number of seconds, > 0 (or >= 0 with zero_ok); TOML's nan and inf are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            value >= 0 if zero_ok else value > 0) or value != value or value == float("inf"):
        raise ConfigError(f"{where}: must be a number {'>= 0' if zero_ok else '> 0'}, not {value!r}")
    return float(value)


def topic_name(value: Any, where: str) -> str:
    text = nonempty_str(value, where)
    if not NAME.fullmatch(text) or text in (".", ".."):
        raise ConfigError(f"{where}: {text!r} is not a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -)")
    return text


def librdkafka_options(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table of librdkafka options")
    for k, v in value.items():
        if isinstance(v, dict | list):
            raise ConfigError(f"{where}.{k}: librdkafka options are strings, numbers or booleans "
                              f"(quote dotted names: \"{k}\" = ...)")
    return dict(value)


def listen_address(value: Any, where: str) -> tuple[str, int]:
    text = nonempty_str(value, where)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where}: {text!r} is not HOST:PORT (e.g. \"127.0.0.1:9465\")")
    return host.strip("[]"), int(port)


def secret_file(value: Any, base: Path, where: str) -> Path:
    """A credential file, relative to the config: it must be readable and non-empty now, not at first use."""
    p = (base / nonempty_str(value, where)).resolve()
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{where}: cannot read {p}: {e.strerror}") from None
    if not data.strip():
        raise ConfigError(f"{where}: {p} is empty")
    return p
