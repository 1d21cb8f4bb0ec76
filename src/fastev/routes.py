"""Routes: which events go where, read from the pipeline's TOML config.

```toml
[acl]
file = "acl.toml"            # relative to the config file
[[route]]
name = "atlas"
principals = ["group:/atlas"]   # deliver what these identities may ALL see under the ACL
paths = ["/pnfs/example.org/data/atlas"]   # plain component-prefix filter
kinds = ["UPLOAD", "DELETE"]               # plain kind filter
sources = ["dcache-billing"]               # plain source filter (docs/formats.md §6)
topic = "atlas-events"        # the Kafka topic `fastev run` publishes this route to
```
A route with several principals delivers only what every one of them may see:
a topic is shared by its readers, so nothing reaches one reader that another
must not see (default deny). A route without principals, paths, kinds and
sources takes every event. Routes with principals need an ``[acl]`` file.

A compiled route (``CompiledRoute``) is what both transcoders route with: a
plain filter and the identity views of its principals, built by the same
implementation (native or reference) that decodes.
"""
from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .event import DECODER_NAMES, KINDS

ROUTE_KEYS = frozenset({"name", "principals", "paths", "kinds", "sources", "topic", "format", "key"})


@dataclass(frozen=True, slots=True)
class RouteSpec:
    name: str
    principals: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # topic/format/key for the sinks
    sources: tuple[str, ...] = ()  # decoder names (docs/formats.md §6); none: every source

    @property
    def filters(self) -> bool:
        """Does the route narrow events by itself (paths, kinds or sources)?"""
        return bool(self.paths or self.kinds or self.sources)


@dataclass(frozen=True, slots=True)
class RoutesConfig:
    routes: tuple[RouteSpec, ...]
    acl_file: Path | None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: must be a list of non-empty strings")
    return tuple(value)


def parse_routes(doc: dict[str, Any], base_dir: Path, filename: str = "<config>") -> RoutesConfig:
    acl_file = None
    acl = doc.get("acl")
    if acl is not None:
        if not isinstance(acl, dict) or not isinstance(acl.get("file"), str):
            raise ConfigError(f"{filename}: [acl] needs file = \"rules.toml\"")
        unknown = set(acl) - {"file"}
        if unknown:
            raise ConfigError(f"{filename}: [acl]: unknown key {sorted(unknown)[0]!r}")
        acl_file = (base_dir / acl["file"]).resolve()
    tables = doc.get("route", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{filename}: route must be an array of tables ([[route]])")
    routes: list[RouteSpec] = []
    seen: set[str] = set()
    for i, t in enumerate(tables):
        where = f"{filename}: route[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{where}: must be a table")
        unknown = set(t) - ROUTE_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        name = t.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name: a non-empty string is required")
        if name in seen:
            raise ConfigError(f"{where}.name: duplicate route name {name!r}")
        seen.add(name)
        principals = _strings(t.get("principals", []), f"{where}.principals")
        paths = _strings(t.get("paths", []), f"{where}.paths")
        kinds = _strings(t.get("kinds", []), f"{where}.kinds")
        for k in kinds:
            if k not in KINDS:
                raise ConfigError(f"{where}.kinds: unknown kind {k!r}")
        sources = _strings(t.get("sources", []), f"{where}.sources")
        for src in sources:
            if src not in DECODER_NAMES:
                raise ConfigError(f"{where}.sources: unknown source {src!r} (expected one of "
                                  f"{', '.join(DECODER_NAMES)})")
        if principals and acl_file is None:
            raise ConfigError(f"{where}.principals: routes with principals need an [acl] file")
        extra = {k: t[k] for k in ("topic", "format", "key") if k in t}
        routes.append(RouteSpec(name, principals, paths, kinds, extra, sources))
    return RoutesConfig(tuple(routes), acl_file)


def read_toml(path: str | Path) -> dict[str, Any]:
    """A config file's TOML document; unreadable or invalid files are a ConfigError naming the file."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text("utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: not UTF-8 (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None


def load_routes(path: str | Path) -> RoutesConfig:
    p = Path(path)
    return parse_routes(read_toml(p), p.parent, str(p))


def route_names(routes: Sequence[RouteSpec]) -> tuple[str, ...]:
    return tuple(r.name for r in routes)


class CompiledRoute:
    """One route: a plain filter (or None) and identity views that must all allow the event."""

    __slots__ = ("name", "filter", "views")

    def __init__(self, name: str, filter: Any | None, views: Sequence[Any]) -> None:
        self.name = name
        self.filter = filter
        self.views = tuple(views)

    def takes(self, path: str, kind: str, source: str | None = None) -> bool:
        if self.filter is not None and not self.filter.matches(path, kind, source):
            return False
        return all(view.allows(path, kind, source) for view in self.views)
