"""Kafka ACL bindings that give each route's readers exactly their topics.

``fastev acl kafka-bindings --acl FILE --config FILE`` turns the pipeline
config's routes into Kafka ACL bindings: for every principal listed on a route,
ALLOW READ and DESCRIBE on the route's topic (resource type TOPIC, pattern
LITERAL, host ``*``). Nothing else is granted:

- a route without principals gets no reader bindings (Kafka default deny with
  an authorizer configured; operators add readers by hand);
- the dead-letter topic gets none either, unless readers are named explicitly
  (``--dead-letter-principal``): it holds raw rejected records, unfiltered by
  the ACL;
- consumer-group (GROUP resource) and producer bindings are not generated.

Principal mapping (fastev -> Kafka), assuming the Kafka principal builder
yields the same user and group names as the storage system:

==============  ==================  =====================================
fastev          Kafka               note
==============  ==================  =====================================
``user:NAME``   ``User:NAME``
``group:G``     ``Group:G``         needs an authorizer/principal builder
                                    that knows groups (stock Kafka matches
                                    ``User:`` principals only)
``uid:N``       ``User:uid-N``      N without leading zeros
``*``           ``User:*``          Kafka's wildcard principal
==============  ==================  =====================================

Security: a route delivers only the events that EVERY principal listed on it
may see under the ACL (one ACL view per principal, see
``fastev.transcode.compile_routes``), so a reader granted a route's topic can
never receive an event the ACL denies it. That holds per topic only if the
topic carries nothing else, so a topic shared by routes with different
principal sets, or also used as the dead-letter topic or a Kafka source topic,
is refused.
"""
from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ("KafkaAclBinding", "kafka_principal", "route_bindings", "BindingPlan", "plan_bindings",
           "render_json", "render_commands", "READER_OPERATIONS")

READER_OPERATIONS = ("READ", "DESCRIBE")
_CLI_OPERATION = {"READ": "Read", "DESCRIBE": "Describe"}


@dataclass(frozen=True, slots=True)
class KafkaAclBinding:
    principal: str
    host: str
    operation: str
    permission: str
    resource_type: str
    resource_name: str
    pattern_type: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def kafka_principal(principal: str) -> str:
    """The Kafka principal for a fastev principal string (see the module docstring)."""
    from ..acl_rules import ANY_PRINCIPAL, normalise_principal

    p = normalise_principal(principal)
    if p is None:
        raise ConfigError(f"invalid principal {principal!r} (expected user:NAME, group:NAME, uid:N or *)")
    if p == ANY_PRINCIPAL:
        return "User:*"
    scheme, _, value = p.partition(":")
    if scheme == "user":
        return f"User:{value}"
    if scheme == "group":
        return f"Group:{value}"
    return f"User:uid-{value}"  # uid, normalised (no leading zeros)


def _reader_bindings(principals: Iterable[str], topic: str) -> list[KafkaAclBinding]:
    return [KafkaAclBinding(kafka_principal(p), "*", op, "ALLOW", "TOPIC", topic, "LITERAL")
            for p in principals for op in READER_OPERATIONS]


def _dedupe(bindings: Iterable[KafkaAclBinding]) -> list[KafkaAclBinding]:
    return list(dict.fromkeys(bindings))


@dataclass(frozen=True, slots=True)
class BindingPlan:
    bindings: tuple[KafkaAclBinding, ...]
    notes: tuple[str, ...]  # header comment lines (without "# ")


def route_bindings(routes: Sequence[Any], dead_letter_topic: str | None = None,
                   dead_letter_principals: Sequence[str] = (),
                   source_topics: Sequence[str] = ()) -> BindingPlan:
    """Bindings for ``routes`` (objects with ``name``, ``topic``, ``principals``).

    Raises ConfigError for an invalid principal or a topic whose readers could
    see events meant for someone else (see the module docstring).
    """
    notes: list[str] = []
    out: list[KafkaAclBinding] = []
    by_topic: dict[str, tuple[str, frozenset[str]]] = {}
    sources = set(source_topics)
    for r in routes:
        readers = frozenset(kafka_principal(p) for p in r.principals)  # validates every principal
        if r.topic in by_topic and by_topic[r.topic][1] != readers:
            other = by_topic[r.topic][0]
            raise ConfigError(f"route {r.name!r}: topic {r.topic!r} is also written by route {other!r} "
                              "with different principals; a shared topic would show each route's readers "
                              "the other's events (give each route its own topic or the same principals)")
        by_topic.setdefault(r.topic, (r.name, readers))
        if dead_letter_topic is not None and r.topic == dead_letter_topic:
            raise ConfigError(f"route {r.name!r}: topic {r.topic!r} is also the dead-letter topic, whose raw "
                              "rejected records are not filtered by the ACL")
        if r.topic in sources:
            raise ConfigError(f"route {r.name!r}: topic {r.topic!r} is also a Kafka source topic, whose raw "
                              "records are not filtered by the ACL")
        if not r.principals:
            notes.append(f"route {r.name!r} (topic {r.topic}): no principals, so no reader bindings "
                         "(default deny; add readers by hand)")
            continue
        out.extend(_reader_bindings(r.principals, r.topic))
    if dead_letter_topic is not None:
        if dead_letter_principals:
            out.extend(_reader_bindings(dead_letter_principals, dead_letter_topic))
            notes.append(f"dead-letter topic {dead_letter_topic}: readers as given by --dead-letter-principal")
        else:
            notes.append(f"dead-letter topic {dead_letter_topic}: no reader bindings (raw rejected records, "
                         "not filtered by the ACL; operators add their own with --dead-letter-principal)")
    elif dead_letter_principals:
        raise ConfigError("--dead-letter-principal given but the config has no [dead_letter] topic")
    return BindingPlan(tuple(_dedupe(out)), tuple(notes))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def plan_bindings(acl_path: str | Path, config: Any, dead_letter_principals: Sequence[str] = ()) -> BindingPlan:
    """Load and validate the ACL, then the bindings of ``config`` (a loaded pipeline config: the
    caller loads it, this layer does not import the pipeline). ConfigError on any problem."""
    from ..acl import Acl

    acl_file = Path(acl_path)
    try:
        acl = Acl.from_toml(acl_file)
    except OSError as e:
        raise ConfigError(f"{acl_file}: cannot read: {e.strerror}") from None
    if config.routes.acl_file is not None and not _same_file(acl_file, config.routes.acl_file):
        raise ConfigError(f"--acl {acl_file} is not the ACL the config uses ({config.routes.acl_file}); "
                          "the bindings are only safe for the pipeline's own ACL")
    principals_of = {t.name: spec.principals for t, spec in zip(config.targets, config.routes.routes, strict=True)}
    routes = [_Route(t.name, t.topic, principals_of[t.name]) for t in config.targets]
    source_topics = [topic for s in config.sources for topic in s.topics]
    plan = route_bindings(routes, config.dead_letter_topic, dead_letter_principals, source_topics)
    return BindingPlan(plan.bindings, plan.notes + tuple(_unmatched_notes(acl, routes)))


@dataclass(frozen=True, slots=True)
class _Route:
    name: str
    topic: str
    principals: tuple[str, ...]


def _unmatched_notes(acl: Any, routes: Sequence[_Route]) -> list[str]:
    """Principals no allow rule names: their route delivers nothing (all readers must be allowed)."""
    from ..acl_rules import ANY_PRINCIPAL, normalise_principal

    allowed = {normalise_principal(p) for rule in acl.rules if rule.effect == "allow" for p in rule.principals}
    if ANY_PRINCIPAL in allowed:
        return []
    notes = []
    for r in routes:
        for p in r.principals:
            if normalise_principal(p) not in allowed:
                notes.append(f"route {r.name!r}: principal {p} is named by no allow rule, so the route "
                             "delivers nothing until the ACL allows it")
    return notes


HEADER = (
    "fastev Kafka ACL bindings: each route's readers get READ+DESCRIBE on exactly their route's topic.",
    "Security: a route delivers only the events that ALL of its listed principals may see under the ACL,",
    "so a route whose principals are not all allowed to see everything it takes cannot happen by construction.",
    "Principals: user:NAME -> User:NAME, group:G -> Group:G, uid:N -> User:uid-N, * -> User:*.",
    "Not generated: consumer-group (GROUP) and producer bindings.",
)


def header_lines(plan: BindingPlan) -> list[str]:
    return [f"# {line}" for line in (*HEADER, *plan.notes)]


def render_json(bindings: Sequence[KafkaAclBinding]) -> str:
    return json.dumps([b.to_dict() for b in bindings], indent=2)


def render_commands(bindings: Sequence[KafkaAclBinding], bootstrap_server: str) -> list[str]:
    """One ``kafka-acls --add`` line per (principal, host, permission, topic, pattern), operations merged."""
    groups: dict[tuple[str, str, str, str, str, str], list[str]] = {}
    for b in bindings:
        key = (b.principal, b.host, b.permission, b.resource_type, b.resource_name, b.pattern_type)
        groups.setdefault(key, []).append(b.operation)
    lines = []
    for (principal, host, permission, rtype, name, pattern), ops in groups.items():
        if rtype != "TOPIC" or permission != "ALLOW":  # only what this module generates
            raise ValueError(f"cannot render {rtype}/{permission} bindings")
        parts = ["kafka-acls", "--bootstrap-server", shlex.quote(bootstrap_server), "--add",
                 "--allow-principal", shlex.quote(principal)]
        if host != "*":
            parts += ["--allow-host", shlex.quote(host)]
        for op in ops:
            parts += ["--operation", _CLI_OPERATION[op]]
        parts += ["--topic", shlex.quote(name), "--resource-pattern-type", pattern.lower()]
        lines.append(" ".join(parts))
    return lines
