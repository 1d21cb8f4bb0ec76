"""The ``fastev workflow`` configuration: one TOML file, validated up front, every error naming its key.

Top-level tables: ``[kafka]`` (as for ``fastev run``), ``[workflows]`` (topics, group, results_topic,
dead_letter_topic, grace_s, max_pending), ``[[workflow]]`` with ``name`` and ``[workflow.match]``,
``[workflow.action]`` (type = "command" | "webhook") and ``[workflow.delivery]``, and ``[metrics] listen``;
the README's "Workflows" section has a complete example. Every key and default is in the dataclasses
below. Files (token_file, hmac_secret_file) are relative to the config file and are read at load time,
so a missing credential is a config error before anything connects.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..acl_rules import normalise_principal
from ..errors import ConfigError
from ..event import KINDS
from ..paths import canonical_path
from ..routes import read_toml
from .config_values import (
    NAME,
    choice,
    integer,
    librdkafka_options,
    listen_address,
    nonempty_list,
    nonempty_str,
    seconds,
    secret_file,
    suggest,
    table,
    topic_name,
    unknown_keys,
)
from .match import compile_glob
from .template import Template

__all__ = ("MatchSpec", "CommandAction", "BatchSpec", "WebhookAction", "DeliverySpec", "WorkflowSpec",
           "WorkflowsConfig", "load_workflow_config", "parse_workflow_config",
           "ACTION_TYPES", "FUTURE_ACTION_TYPES", "WEBHOOK_METHODS", "WEBHOOK_MODES", "RESERVED_HEADERS")

ACTION_TYPES = ("command", "webhook")
FUTURE_ACTION_TYPES = ("rucio", "openwhisk")   # the next issue
WEBHOOK_METHODS = ("POST", "PUT", "PATCH")
WEBHOOK_MODES = ("structured", "binary")
ORDERINGS = ("path", "none")
BACKOFFS = ("exponential", "linear")
# Headers the webhook action sets itself (framing, body type, signature): a config may not override them.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "content-type",
                              "x-fastev-signature"})
TOP_KEYS = frozenset({"kafka", "workflows", "workflow", "metrics"})
KAFKA_KEYS = frozenset({"bootstrap_servers", "producer", "consumer"})
WORKFLOWS_KEYS = frozenset({"topics", "group", "results_topic", "dead_letter_topic", "grace_s", "max_pending"})
WORKFLOW_KEYS = frozenset({"name", "match", "action", "delivery"})
MATCH_KEYS = frozenset({"paths", "kinds", "names", "min_size", "max_size", "principals", "after"})
COMMAND_KEYS = frozenset({"type", "argv", "timeout_s"})
WEBHOOK_KEYS = frozenset({"type", "url", "method", "mode", "headers", "token_file", "hmac_secret_file",
                          "timeout_s", "batch"})
BATCH_KEYS = frozenset({"max_events", "max_wait_ms"})
DELIVERY_KEYS = frozenset({"concurrency", "ordering", "attempts", "backoff", "backoff_initial_s", "backoff_max_s",
                           "jitter", "max_age_s", "rate_per_s", "dead_letter_topic"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")   # an HTTP header name (RFC 9110 token)
_URL_HEAD = re.compile(r"https?://[^/?#{}\s]+([/?#]|$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MatchSpec:
    """``[workflow.match]``: every given condition must hold (workflow/match.py)."""

    paths: tuple[str, ...] = ()         # canonical component prefixes
    kinds: frozenset[str] = frozenset()  # fastev.event.KINDS
    names: tuple[str, ...] = ()         # globs on the last path component
    min_size: int | None = None         # bytes, inclusive
    max_size: int | None = None
    principals: tuple[str, ...] = ()    # normalised: user:NAME | uid:N | group:NAME
    after: str | None = None            # upstream workflow (chained: runs on its succeeded results)


@dataclass(frozen=True, slots=True)
class CommandAction:
    argv: tuple[Template, ...]          # argv[0] literal and non-empty
    timeout_s: float = 600.0
    type: str = "command"


@dataclass(frozen=True, slots=True)
class BatchSpec:
    max_events: int = 100
    max_wait_ms: int = 200


@dataclass(frozen=True, slots=True)
class WebhookAction:
    url: Template                       # scheme and host literal
    method: str = "POST"                # POST | PUT | PATCH
    mode: str = "structured"            # structured | binary (CloudEvents HTTP binding)
    headers: tuple[tuple[str, Template], ...] = ()   # render values with Template.render_line
    token_file: Path | None = None      # absolute; read at load time (Bearer)
    hmac_secret_file: Path | None = None  # absolute; X-Fastev-Signature
    timeout_s: float = 30.0
    batch: BatchSpec | None = None
    type: str = "webhook"


@dataclass(frozen=True, slots=True)
class DeliverySpec:
    concurrency: int = 8
    ordering: str = "path"
    attempts: int = 5
    backoff: str = "exponential"
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    jitter: bool = True
    max_age_s: float | None = None
    rate_per_s: float | None = None
    dead_letter_topic: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    name: str
    match: MatchSpec
    action: CommandAction | WebhookAction
    delivery: DeliverySpec

    def dead_letter_topic(self, config: WorkflowsConfig) -> str | None:
        """This workflow's own dead-letter topic, else the [workflows] default (None: none at all)."""
        return self.delivery.dead_letter_topic or config.dead_letter_topic


@dataclass(frozen=True, slots=True)
class WorkflowsConfig:
    path: Path
    bootstrap_servers: str | None
    producer: dict[str, Any]
    consumer: dict[str, Any]
    topics: tuple[str, ...]
    group: str = "fastev-workflows"
    results_topic: str | None = None
    dead_letter_topic: str | None = None
    grace_s: float = 30.0
    max_pending: int = 10000
    workflows: tuple[WorkflowSpec, ...] = ()
    metrics_listen: tuple[str, int] | None = None


def load_workflow_config(path: str | Path) -> WorkflowsConfig:
    p = Path(path)
    return parse_workflow_config(read_toml(p), p)


# ---------------------------------------------------------------- sections

def _condition(t: dict[str, Any], key: str, where: str) -> list[Any]:
    """A match condition's values; an empty list is a mistake, not "no condition" (that is: omit the key)."""
    return nonempty_list(t[key], f"{where}.{key}", " (omit the key for no condition)") if key in t else []


def _kafka(doc: dict[str, Any], name: str) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    kafka = table(doc.get("kafka", {}), f"{name}: kafka")
    unknown_keys(kafka, KAFKA_KEYS, f"{name}: kafka")
    bootstrap = kafka.get("bootstrap_servers")
    if bootstrap is not None:
        if isinstance(bootstrap, list):
            bootstrap = ",".join(nonempty_str(b, f"{name}: kafka.bootstrap_servers[{i}]")
                                 for i, b in enumerate(nonempty_list(bootstrap, f"{name}: kafka.bootstrap_servers")))
        bootstrap = nonempty_str(bootstrap, f"{name}: kafka.bootstrap_servers")
    producer = librdkafka_options(kafka.get("producer", {}), f"{name}: kafka.producer")
    consumer = librdkafka_options(kafka.get("consumer", {}), f"{name}: kafka.consumer")
    for key in ("bootstrap.servers", "metadata.broker.list"):
        for where, conf in (("producer", producer), ("consumer", consumer)):
            if key in conf:
                raise ConfigError(f"{name}: kafka.{where}.{key}: set kafka.bootstrap_servers instead")
    if "group.id" in consumer:
        raise ConfigError(f"{name}: kafka.consumer.group.id: set workflows.group instead")
    for key in ("enable.auto.commit", "enable.auto.offset.store"):
        if key in consumer and str(consumer[key]).lower() not in ("false", "0"):
            raise ConfigError(f"{name}: kafka.consumer.{key}: must stay false (offsets are committed "
                              "only after every matching workflow finished, at-least-once)")
    return bootstrap, producer, consumer


def _match(t: Any, where: str) -> MatchSpec:
    t = table(t, where)
    unknown_keys(t, MATCH_KEYS, where)
    paths: list[str] = []
    for i, p in enumerate(_condition(t, "paths", where)):
        text = nonempty_str(p, f"{where}.paths[{i}]")
        canonical = canonical_path(text)
        if canonical != text:
            hint = f" (write {canonical!r})" if canonical else " (absolute, without '.' or '..' components)"
            raise ConfigError(f"{where}.paths[{i}]: {text!r} is not a canonical path{hint}")
        paths.append(text)
    kinds: set[str] = set()
    for i, k in enumerate(_condition(t, "kinds", where)):
        if k not in KINDS:
            hint = suggest(k, KINDS) if isinstance(k, str) else ""
            raise ConfigError(f"{where}.kinds[{i}]: unknown kind {k!r}{hint} (known: {', '.join(KINDS)})")
        kinds.add(k)
    names: list[str] = []
    for i, g in enumerate(_condition(t, "names", where)):
        if not isinstance(g, str):
            raise ConfigError(f"{where}.names[{i}]: must be a string")
        try:
            compile_glob(g)
        except ValueError as e:
            raise ConfigError(f"{where}.names[{i}]: bad glob {g!r}: {e}") from None
        names.append(g)
    min_size = integer(t["min_size"], f"{where}.min_size", 0) if "min_size" in t else None
    max_size = integer(t["max_size"], f"{where}.max_size", 0) if "max_size" in t else None
    if min_size is not None and max_size is not None and min_size > max_size:
        raise ConfigError(f"{where}.min_size: {min_size} is greater than max_size {max_size}")
    principals: list[str] = []
    for i, p in enumerate(_condition(t, "principals", where)):
        norm = normalise_principal(p) if isinstance(p, str) else None
        if norm is None or norm == "*":  # "*" would be every event: omit principals for that
            raise ConfigError(f"{where}.principals[{i}]: {p!r} is not a principal "
                              "(user:NAME, uid:N or group:NAME)")
        principals.append(norm)
    after = nonempty_str(t["after"], f"{where}.after") if "after" in t else None
    return MatchSpec(tuple(paths), frozenset(kinds), tuple(names), min_size, max_size, tuple(principals), after)


def _action(t: Any, where: str, base: Path, chained: bool) -> CommandAction | WebhookAction:
    t = table(t, where)
    kind = t.get("type")
    if kind in FUTURE_ACTION_TYPES:
        raise ConfigError(f"{where}.type: {kind!r} is not available yet (known: {', '.join(ACTION_TYPES)})")
    if kind not in ACTION_TYPES:
        hint = suggest(kind, ACTION_TYPES) if isinstance(kind, str) else ""
        what = "required" if kind is None else f"unknown action type {kind!r}{hint}"
        raise ConfigError(f"{where}.type: {what} (known: {', '.join(ACTION_TYPES)})")
    unknown_keys(t, COMMAND_KEYS if kind == "command" else WEBHOOK_KEYS, where)
    timeout_default = 600.0 if kind == "command" else 30.0
    timeout = seconds(t["timeout_s"], f"{where}.timeout_s") if "timeout_s" in t else timeout_default
    if kind == "command":
        if "argv" not in t:
            raise ConfigError(f"{where}: a command action needs argv (a list of strings)")
        argv = tuple(Template.parse(a, f"{where}.argv[{i}]", outputs=chained)
                     for i, a in enumerate(nonempty_list(t["argv"], f"{where}.argv")))
        if not argv[0].text:
            raise ConfigError(f"{where}.argv[0]: the program may not be empty")
        if argv[0].placeholders:  # the event must not choose the program that runs
            raise ConfigError(f"{where}.argv[0]: the program must be literal (placeholders go in arguments)")
        return CommandAction(argv, timeout)
    if "url" not in t:
        raise ConfigError(f"{where}: a webhook action needs url")
    url = Template.parse(t["url"], f"{where}.url", outputs=chained)
    head = _URL_HEAD.match(url.literal_prefix)
    if not head or not (head.group(1) or not url.placeholders):  # the event fills in the path, never the host
        raise ConfigError(f"{where}.url: {url.text!r} must start with a literal http:// or https:// and host")
    method = choice(t.get("method", "POST"), WEBHOOK_METHODS, f"{where}.method")
    mode = choice(t.get("mode", "structured"), WEBHOOK_MODES, f"{where}.mode")
    token = secret_file(t["token_file"], base, f"{where}.token_file") if "token_file" in t else None
    secret = secret_file(t["hmac_secret_file"], base, f"{where}.hmac_secret_file") \
        if "hmac_secret_file" in t else None
    headers = _headers(t["headers"], f"{where}.headers", chained, token is not None) if "headers" in t else ()
    batch = None
    if "batch" in t:
        b = table(t["batch"], f"{where}.batch")
        unknown_keys(b, BATCH_KEYS, f"{where}.batch")
        batch = BatchSpec(integer(b.get("max_events", 100), f"{where}.batch.max_events", 1, 100_000),
                          integer(b.get("max_wait_ms", 200), f"{where}.batch.max_wait_ms", 0, 3_600_000))
        if mode != "structured":
            raise ConfigError(f"{where}.batch: a batch is a JSON array of structured CloudEvents; "
                              "it needs mode = \"structured\"")
        # One request carries many events: there is no single event to fill placeholders from.
        for key, tmpl in (("url", url), *((f"headers.{h}", v) for h, v in headers)):
            if tmpl.placeholders:
                raise ConfigError(f"{where}.{key}: placeholders need one event per request (not with batch)")
    return WebhookAction(url, method, mode, headers, token, secret, timeout, batch)


def _headers(t: Any, where: str, chained: bool, has_token: bool) -> tuple[tuple[str, Template], ...]:
    t = table(t, where)
    seen: set[str] = set()
    out: list[tuple[str, Template]] = []
    for h, v in t.items():
        key = f"{where}.{h}"
        low = h.lower()
        if not _TOKEN.fullmatch(h):
            raise ConfigError(f"{key}: {h!r} is not an HTTP header name")
        if low in RESERVED_HEADERS or low.startswith("ce-") or (has_token and low == "authorization"):
            raise ConfigError(f"{key}: the webhook action sets {h!r} itself")
        if low in seen:
            raise ConfigError(f"{key}: header {h!r} is given twice (names are case-insensitive)")
        seen.add(low)
        value = Template.parse(v, key, outputs=chained)
        if any(c in part for part in value.parts[0::2] for c in "\r\n\x00"):
            raise ConfigError(f"{key}: a header value may not contain CR, LF or NUL")
        out.append((h, value))
    return tuple(out)


def _delivery(t: Any, where: str) -> DeliverySpec:
    t = table(t, where)
    unknown_keys(t, DELIVERY_KEYS, where)
    d = DeliverySpec()
    initial = seconds(t["backoff_initial_s"], f"{where}.backoff_initial_s") if "backoff_initial_s" in t \
        else d.backoff_initial_s
    most = seconds(t["backoff_max_s"], f"{where}.backoff_max_s") if "backoff_max_s" in t else d.backoff_max_s
    if most < initial:
        raise ConfigError(f"{where}.backoff_max_s: {most:g} is less than backoff_initial_s {initial:g}")
    jitter = t.get("jitter", d.jitter)
    if not isinstance(jitter, bool):
        raise ConfigError(f"{where}.jitter: must be true or false, not {jitter!r}")
    return DeliverySpec(
        concurrency=integer(t.get("concurrency", d.concurrency), f"{where}.concurrency", 1, 100_000),
        ordering=choice(t.get("ordering", d.ordering), ORDERINGS, f"{where}.ordering"),
        attempts=integer(t.get("attempts", d.attempts), f"{where}.attempts", 1, 1_000_000),
        backoff=choice(t.get("backoff", d.backoff), BACKOFFS, f"{where}.backoff"),
        backoff_initial_s=initial, backoff_max_s=most, jitter=jitter,
        max_age_s=seconds(t["max_age_s"], f"{where}.max_age_s") if "max_age_s" in t else None,
        rate_per_s=seconds(t["rate_per_s"], f"{where}.rate_per_s") if "rate_per_s" in t else None,
        dead_letter_topic=topic_name(t["dead_letter_topic"], f"{where}.dead_letter_topic")
        if "dead_letter_topic" in t else None)


def _workflows(tables: Any, name: str, base: Path) -> tuple[WorkflowSpec, ...]:
    if tables is None:
        raise ConfigError(f"{name}: workflow: at least one [[workflow]] is required")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{name}: workflow must be a non-empty array of tables ([[workflow]])")
    out: list[WorkflowSpec] = []
    seen: set[str] = set()
    for i, t in enumerate(tables):
        unknown_keys(t, WORKFLOW_KEYS, f"{name}: workflow[{i}]")
        if "name" not in t:
            raise ConfigError(f"{name}: workflow[{i}].name: required")
        wname = nonempty_str(t["name"], f"{name}: workflow[{i}].name")
        if not NAME.fullmatch(wname):
            raise ConfigError(f"{name}: workflow[{i}].name: {wname!r} must be 1-249 of A-Z a-z 0-9 . _ -")
        if wname in seen:
            raise ConfigError(f"{name}: workflow[{i}].name: duplicate workflow name {wname!r}")
        seen.add(wname)
        where = f'{name}: workflow[{i}] ("{wname}")'
        match = _match(t.get("match", {}), f"{where}.match")
        if "action" not in t:
            raise ConfigError(f"{where}.action: required ([workflow.action] with a type)")
        action = _action(t["action"], f"{where}.action", base, match.after is not None)
        out.append(WorkflowSpec(wname, match, action, _delivery(t.get("delivery", {}), f"{where}.delivery")))
    _check_chains(out, name)
    return tuple(out)


def _check_chains(workflows: list[WorkflowSpec], name: str) -> None:
    """Every ``after`` names another workflow, and following them never comes back round."""
    index = {w.name: i for i, w in enumerate(workflows)}

    def where(i: int) -> str:
        return f'{name}: workflow[{i}] ("{workflows[i].name}").match.after'

    for i, w in enumerate(workflows):  # self and unknown names first: a cycle report needs real names
        after = w.match.after
        if after == w.name:
            raise ConfigError(f"{where(i)}: a workflow cannot run after itself")
        if after is not None and after not in index:
            raise ConfigError(f"{where(i)}: unknown workflow {after!r}{suggest(after, tuple(index))}")
    for i, w in enumerate(workflows):
        chain: list[str] = [w.name]
        step = w.match.after
        while step is not None:
            if step in chain:
                raise ConfigError(f"{where(i)}: cycle {' -> '.join(chain + [step])}")
            chain.append(step)
            step = workflows[index[step]].match.after


def _own_output(topic: str | None, where: str, topics: tuple[str, ...], results: str | None) -> None:
    """The runner's outputs are not its inputs: it would consume what it wrote (dead letters as results)."""
    if topic is not None and topic in topics:
        raise ConfigError(f"{where}: {topic!r} is one of workflows.topics")
    if topic is not None and topic == results:
        raise ConfigError(f"{where}: {topic!r} is the results_topic")


def parse_workflow_config(doc: dict[str, Any], path: Path) -> WorkflowsConfig:
    name = str(path)
    base = path.parent.resolve()
    unknown_keys(doc, TOP_KEYS, name)
    bootstrap, producer, consumer = _kafka(doc, name)

    if "workflows" not in doc:
        raise ConfigError(f"{name}: workflows: required ([workflows] with the topics to consume)")
    w = table(doc["workflows"], f"{name}: workflows")
    where = f"{name}: workflows"
    unknown_keys(w, WORKFLOWS_KEYS, where)
    if "topics" not in w:
        raise ConfigError(f"{where}.topics: required (the route topics to consume)")
    raw_topics = [w["topics"]] if isinstance(w["topics"], str) else nonempty_list(w["topics"], f"{where}.topics")
    topics = tuple(dict.fromkeys(topic_name(t, f"{where}.topics[{i}]") for i, t in enumerate(raw_topics)))
    group = nonempty_str(w.get("group", "fastev-workflows"), f"{where}.group")
    results = topic_name(w["results_topic"], f"{where}.results_topic") if "results_topic" in w else None
    dead = topic_name(w["dead_letter_topic"], f"{where}.dead_letter_topic") if "dead_letter_topic" in w else None
    grace = seconds(w.get("grace_s", 30.0), f"{where}.grace_s", zero_ok=True)
    max_pending = integer(w.get("max_pending", 10000), f"{where}.max_pending", 1, 10_000_000)

    workflows = _workflows(doc.get("workflow"), name, base)
    for i, spec in enumerate(workflows):
        own = f'{name}: workflow[{i}] ("{spec.name}")'
        if spec.match.after is not None and results is None:
            raise ConfigError(f"{own}.match.after: chaining needs [workflows] results_topic "
                              "(the upstream outcomes are read from it)")
        _own_output(spec.delivery.dead_letter_topic, f"{own}.delivery.dead_letter_topic", topics, results)
    _own_output(results, f"{where}.results_topic", topics, None)
    _own_output(dead, f"{where}.dead_letter_topic", topics, results)

    metrics = table(doc.get("metrics", {}), f"{name}: metrics")
    unknown_keys(metrics, frozenset({"listen"}), f"{name}: metrics")
    listen = listen_address(metrics["listen"], f"{name}: metrics.listen") if "listen" in metrics else None

    return WorkflowsConfig(path=path.resolve(), bootstrap_servers=bootstrap, producer=producer, consumer=consumer,
                           topics=topics, group=group, results_topic=results, dead_letter_topic=dead,
                           grace_s=grace, max_pending=max_pending, workflows=workflows, metrics_listen=listen)
