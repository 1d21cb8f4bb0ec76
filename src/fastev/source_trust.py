"""Which source may speak for which part of the path namespace (docs/formats.md §6).

Every decoder writes into one namespace, and ACL rules and routes select by
path prefix. An S3 store names its paths freely (``/<bucket>/<key>``), so it
could claim paths under a dCache or GPFS prefix. Two means keep sources apart:

- ``path_prefix`` on a source: prepended to every path and old path it
  produces (``prefixed_path``; both decoders apply it when they emit an event);
- ``sources`` on ACL rules and routes: a rule or route then covers only events
  of the named sources (fastev.acl_rules).

``spoofing_warnings`` is the start-up check of ``fastev run`` / ``fastev serve``:
one line naming the rules and routes that S3 events could reach under a prefix
they share with file-system sources.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .acl_rules import Rule, rule_path_key
from .errors import ConfigError
from .event import DECODER_NAMES

__all__ = ("FILE_SYSTEM_SOURCES", "OBJECT_STORE_SOURCES", "check_path_prefix", "config_spoofing_warnings",
           "prefixed_path", "spoofing_warnings")

# Sources that report paths of a file system they belong to, and sources whose users name paths.
FILE_SYSTEM_SOURCES = frozenset({"dcache-billing", "dcache-inotify", "gpfs-audit", "gpfs-watch"})
OBJECT_STORE_SOURCES = frozenset({"s3"})


def check_path_prefix(prefix: Any, where: str = "path_prefix") -> str:
    """The canonical prefix (``""`` for none); ConfigError naming ``where`` otherwise.

    ``/`` adds nothing and is the empty prefix. The prefix must be canonical as
    written (docs/formats.md §2): it decides who may read, so it is never rewritten.
    """
    if prefix is None or prefix == "" or prefix == "/":
        return ""
    if not isinstance(prefix, str) or rule_path_key(prefix) != prefix:
        raise ConfigError(f"{where}: {prefix!r} is not a canonical absolute path (e.g. \"/s3/minio-a\")")
    return prefix


def prefixed_path(prefix: str, path: str) -> str:
    """``path`` (canonical, or ``""`` for no file) under ``prefix`` (canonical, or ``""``)."""
    if not prefix or not path:
        return path
    return prefix if path == "/" else prefix + path


def _sources_of(mask: int) -> frozenset[str]:
    return frozenset(name for i, name in enumerate(DECODER_NAMES) if mask >> i & 1)


def _overlap(a: str, b: str) -> bool:
    """Do the subtrees under canonical prefixes ``a`` and ``b`` share a path?"""
    def under(x: str, y: str) -> bool:
        return y == "/" or x == y or x.startswith(y + "/")
    return under(a, b) or under(b, a)


def spoofing_warnings(sources: Sequence[tuple[str, str]], rules: Iterable[Rule] = (),
                      routes: Iterable[Any] = ()) -> list[str]:
    """The start-up warning (one line, or none) when S3 events can reach readers of file-system paths.

    ``sources``: (decoder name, path prefix) of every configured source. A file-system
    source without a prefix claims the whole namespace; an S3 source claims its prefix
    (none: everything). An allow rule, or a route without principals, is exposed when
    it grants a path below the root that both claims reach, to both kinds of source.
    Grants on ``/`` are not: their readers see every event anyway. ``routes`` are
    RouteSpec-like (name, paths, sources, principals).
    """
    # "auto" detects the format per record: it may deliver either kind.
    fs = [prefix or "/" for name, prefix in sources if name in FILE_SYSTEM_SOURCES or name == "auto"]
    s3 = [prefix or "/" for name, prefix in sources if name in OBJECT_STORE_SOURCES or name == "auto"]
    if not fs or not s3:
        return []

    def exposed(paths: Iterable[str], names: frozenset[str]) -> list[str]:
        if not (names & FILE_SYSTEM_SOURCES and names & OBJECT_STORE_SOURCES):
            return []
        return sorted({p for p in paths if p != "/" and any(_overlap(p, f) for f in fs)
                       and any(_overlap(p, o) for o in s3)})

    found: list[str] = []
    allowing = [r for r in rules if r.effect == "allow"]
    for i, rule in enumerate(allowing):
        hit = exposed(rule.paths, _sources_of(rule.sources))
        if hit:
            found.append(f"allow[{i}] ({', '.join(rule.principals)}: {', '.join(hit)})")
    for route in routes:
        if getattr(route, "principals", ()):  # a route with principals is bounded by the rules above
            continue
        hit = exposed(tuple(getattr(route, "paths", ())), frozenset(getattr(route, "sources", ()))
                      or frozenset(DECODER_NAMES))
        if hit:
            found.append(f"route {route.name!r} ({', '.join(hit)})")
    if not found:
        return []
    shown = "; ".join(found[:3]) + (f"; and {len(found) - 3} more" if len(found) > 3 else "")
    return [f"S3 and file-system sources share one path namespace, and {len(found)} ACL rule(s) or route(s) "
            f"grant paths both can name ({shown}): an S3 bucket can speak for those paths. Give them "
            f"sources = [...] or the S3 source a path_prefix (docs/formats.md §6)"]


def config_spoofing_warnings(config: Any) -> list[str]:
    """``spoofing_warnings`` of a pipeline config (``fastev run`` / ``fastev serve`` print them at start).

    Duck-typed on fastev.pipeline.config.PipelineConfig (sources with format and
    decoder_options, routes with acl_file), so this module stays below the pipeline layer.
    """
    from .acl_rules import load_rules

    sources = [(s.format, check_path_prefix(s.decoder_options.get("path_prefix", ""))) for s in config.sources]
    acl_file = config.routes.acl_file
    rules = load_rules(acl_file) if acl_file is not None else []
    return spoofing_warnings(sources, rules, config.routes.routes)

