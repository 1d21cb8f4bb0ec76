"""The ``fastev run`` configuration: one TOML file, validated up front, every error naming its key.

```toml
[kafka]
bootstrap_servers = "127.0.0.1:9092"     # omit: start the embedded broker (fastev[embedded])
[kafka.producer]                         # any librdkafka producer option
"linger.ms" = 5
[kafka.consumer]                         # any librdkafka consumer option (Kafka sources)
"session.timeout.ms" = 6000

[[source]]
name = "billing"                         # optional; default "<type>-<n>"
type = "file"                            # file | stdin | kafka
format = "dcache-billing"                # a decoder name, or "auto"
paths = ["/var/log/dcache/billing-*.json"]   # file: globs, relative to this file
# topics = ["raw-billing"]; group = "fastev"  # kafka
# inotify_watches = "watches.json"; pairing_window = 128; max_record_bytes = 1048576
# path_prefix = "/s3/minio-a"          # prepended to this source's paths (docs/formats.md §6)

[acl]
file = "acl.toml"
[[route]]
name = "atlas"; topic = "atlas-events"; principals = ["group:/atlas"]
format = "avro"                          # avro | confluent | ocf
key = "path"                             # path | id | none
# schema_id = 7 (confluent); ocf_events = 1000 (ocf: events per message)

[dead_letter]
topic = "rejected"
[metrics]
listen = "127.0.0.1:9464"
[state]
dir = "state"                            # file checkpoints; default "<config stem>.state" beside it
checkpoint_interval_s = 0.5              # write a file's checkpoint at most this often (and at its end)
[sse]                                    # optional: serve the events over SSE (fastev.sse.config)
listen = "127.0.0.1:8787"
[sse.auth]
mode = "acl"
```

With ``[sse]`` a config may be SSE only: no ``[[route]]`` at all, or routes
without ``topic`` (they are not Kafka targets). Without ``[sse]`` at least one
route, each with a topic, is required as before.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..kafka.delivery import DEFAULT_OCF_EVENTS
from ..kafka.producer import ROUTE_FORMATS, ROUTE_KEYS
from ..options import DEFAULT_MAX_RECORD_BYTES
from ..routes import RoutesConfig, RouteSpec, parse_routes, read_toml
from ..source_trust import check_path_prefix

if TYPE_CHECKING:
    from ..sse.config import SseConfig

__all__ = ("PipelineConfig", "SourceConfig", "RouteTarget", "load_config", "parse_config", "load_routes_config",
           "check_acl_file",
           "SOURCE_TYPES", "PAIRING_FORMATS")

SOURCE_TYPES = ("file", "stdin", "kafka")
# Formats whose decoder holds IN_MOVED_FROM records back for pairing (README "Moves").
PAIRING_FORMATS = frozenset({"gpfs-watch", "dcache-inotify", "auto"})
CHECKPOINT_INTERVAL_S = 0.5
TOP_KEYS = frozenset({"kafka", "source", "acl", "route", "dead_letter", "metrics", "state", "sse"})
KAFKA_KEYS = frozenset({"bootstrap_servers", "producer", "consumer", "partitions"})
SOURCE_KEYS = frozenset({"name", "type", "format", "paths", "topics", "group", "inotify_watches",
                         "pairing_window", "max_record_bytes", "path_prefix"})
PIPELINE_ROUTE_KEYS = ("schema_id", "ocf_events")  # route keys the pipeline reads beyond routes.py's
MAX_SCHEMA_ID = (1 << 31) - 1


@dataclass(frozen=True, slots=True)
class SourceConfig:
    name: str
    type: str
    format: str
    paths: tuple[str, ...] = ()          # file: globs, absolute
    topics: tuple[str, ...] = ()         # kafka
    group: str | None = None             # kafka
    decoder_options: dict[str, Any] = field(default_factory=dict)  # inotify_watches, pairing_window, ...

    @property
    def pairing_window(self) -> int:
        """Records a move may be held back by the decoder (0 for formats that never pair)."""
        if self.format not in PAIRING_FORMATS:
            return 0
        return int(self.decoder_options.get("pairing_window", 128))

    @property
    def max_record_bytes(self) -> int:
        """The decoder's record size limit (an oversize SSE frame is still one record)."""
        return int(self.decoder_options.get("max_record_bytes", DEFAULT_MAX_RECORD_BYTES))


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """Where and how one route's events go."""

    name: str
    topic: str
    format: str = "avro"      # avro | confluent | ocf
    key: str = "path"         # path | id | none
    schema_id: int = 0        # confluent
    ocf_events: int = DEFAULT_OCF_EVENTS

    @property
    def framing(self) -> tuple[str, int]:
        """The Transcoder framing this route needs: ("avro", 0) or ("confluent", schema_id)."""
        return ("confluent", self.schema_id) if self.format == "confluent" else ("avro", 0)


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    path: Path
    bootstrap_servers: str | None
    producer: dict[str, Any]
    consumer: dict[str, Any]
    sources: tuple[SourceConfig, ...]
    routes: RoutesConfig
    targets: tuple[RouteTarget, ...]
    dead_letter_topic: str | None
    metrics_listen: tuple[str, int] | None
    state_dir: Path
    partitions: int = 1               # embedded broker only: partitions of the topics it creates
    sse: SseConfig | None = None      # [sse]: serve the decoded events over SSE too
    checkpoint_interval_s: float = 0.5  # [state]: a file checkpoint is written at most this often

    @property
    def needs_kafka(self) -> bool:
        """Whether anything is read from or written to Kafka (an SSE-only file pipeline is not)."""
        return bool(self.targets or self.dead_letter_topic or any(s.type == "kafka" for s in self.sources))

    def topics(self) -> list[str]:
        """Every topic the pipeline writes to (routes, then the dead-letter topic)."""
        out = list(dict.fromkeys(t.topic for t in self.targets))
        if self.dead_letter_topic and self.dead_letter_topic not in out:
            out.append(self.dead_letter_topic)
        return out


def load_config(path: str | Path) -> PipelineConfig:
    p = Path(path)
    return parse_config(read_toml(p), p)


def _table(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _unknown(table: dict[str, Any], known: frozenset[str], where: str) -> None:
    extra = sorted(set(table) - known)
    if extra:
        raise ConfigError(f"{where}: unknown key {extra[0]!r}{_suggest(extra[0], known)} "
                          f"(known: {', '.join(sorted(known))})")


def _suggest(key: str, known: frozenset[str]) -> str:
    """``; did you mean 'route'?`` for a near miss such as ``routes`` or ``sources``, else nothing."""
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_acl_file(routes: RoutesConfig, name: str) -> None:
    """Load the [acl] file now: a missing or invalid one is a config error before anything connects."""
    if routes.acl_file is None:
        return
    from ..acl import Acl

    try:
        Acl.from_toml(routes.acl_file)
    except ConfigError as e:
        raise ConfigError(f"{name}: acl.file: {e}") from None
    except OSError as e:  # the rule loader reports most read errors itself; this is the rest
        raise ConfigError(f"{name}: acl.file: cannot read {routes.acl_file}: {e.strerror}") from None


def load_routes_config(path: str | Path) -> RoutesConfig:
    """The [acl] and [[route]] tables of a routes file or a whole pipeline config (``fastev route``).

    Unknown top-level keys are errors naming the key (``[[routes]]`` is not silently ignored); the
    pipeline's own route keys (schema_id, ocf_events) are accepted and left to ``fastev run``.
    """
    p = Path(path)
    doc = read_toml(p)
    name = str(p)
    _unknown(doc, TOP_KEYS, name)
    tables = doc.get("route", [])
    if isinstance(tables, list) and all(isinstance(t, dict) for t in tables):
        tables = [{k: v for k, v in t.items() if k not in PIPELINE_ROUTE_KEYS} for t in tables]
    routes = parse_routes({"acl": doc["acl"], "route": tables} if "acl" in doc else {"route": tables},
                          p.parent, name)
    check_acl_file(routes, name)
    return routes


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: must be a non-empty string")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: must be a non-empty list of non-empty strings")
    return tuple(value)


def _int(value: Any, where: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ConfigError(f"{where}: must be an integer {bound}, not {value!r}")
    return value


def _librdkafka(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table of librdkafka options")
    for k, v in table.items():
        if isinstance(v, dict | list):
            raise ConfigError(f"{where}.{k}: librdkafka options are strings, numbers or booleans "
                              f"(quote dotted names: \"{k}\" = ...)")
    return dict(table)


def parse_config(doc: dict[str, Any], path: Path) -> PipelineConfig:
    name = str(path)
    base = path.parent.resolve()
    _unknown(doc, TOP_KEYS, name)

    kafka = _table(doc, "kafka", name)
    _unknown(kafka, KAFKA_KEYS, f"{name}: kafka")
    bootstrap = kafka.get("bootstrap_servers")
    if bootstrap is not None:
        if isinstance(bootstrap, list):
            bootstrap = ",".join(_strings(bootstrap, f"{name}: kafka.bootstrap_servers"))
        bootstrap = _str(bootstrap, f"{name}: kafka.bootstrap_servers")
    producer = _librdkafka(kafka.get("producer", {}), f"{name}: kafka.producer")
    consumer = _librdkafka(kafka.get("consumer", {}), f"{name}: kafka.consumer")
    for key in ("bootstrap.servers", "metadata.broker.list"):
        for where, conf in (("producer", producer), ("consumer", consumer)):
            if key in conf:
                raise ConfigError(f"{name}: kafka.{where}.{key}: set kafka.bootstrap_servers instead")
    for key in ("enable.auto.commit", "enable.auto.offset.store"):
        if key in consumer and str(consumer[key]).lower() not in ("false", "0"):
            raise ConfigError(f"{name}: kafka.consumer.{key}: must stay false (offsets are committed "
                              "only after delivery, at-least-once)")
    partitions = _int(kafka.get("partitions", 1), f"{name}: kafka.partitions", 1, 1024)

    sources = _sources(doc.get("source"), name, base)

    # Routes: routes.py validates name/principals/paths/kinds/topic/format/key and [acl];
    # the pipeline's own route keys are taken out first.
    route_tables = doc.get("route", [])
    if not isinstance(route_tables, list) or not all(isinstance(t, dict) for t in route_tables):
        raise ConfigError(f"{name}: route must be an array of tables ([[route]])")
    own = [{k: t[k] for k in PIPELINE_ROUTE_KEYS if k in t} for t in route_tables]
    stripped = [{k: v for k, v in t.items() if k not in PIPELINE_ROUTE_KEYS} for t in route_tables]
    routes = parse_routes({"acl": doc["acl"], "route": stripped} if "acl" in doc else {"route": stripped},
                          base, name)
    check_acl_file(routes, name)
    sse = _sse(doc, name)
    if not routes.routes and sse is None:
        raise ConfigError(f"{name}: route: at least one [[route]] is required (or an [sse] section)")
    # With [sse], a route without any Kafka key (topic, format, key, ...) is no Kafka target; one with
    # Kafka keys but no topic is still an error.
    targets = tuple(_target(spec, extra, f"{name}: route[{i}]")
                    for i, (spec, extra) in enumerate(zip(routes.routes, own, strict=True))
                    if sse is None or spec.extra or extra)

    dead = _table(doc, "dead_letter", name)
    _unknown(dead, frozenset({"topic"}), f"{name}: dead_letter")
    dead_topic = _str(dead["topic"], f"{name}: dead_letter.topic") if "topic" in dead else None

    metrics = _table(doc, "metrics", name)
    _unknown(metrics, frozenset({"listen"}), f"{name}: metrics")
    listen = _listen(metrics["listen"], f"{name}: metrics.listen") if "listen" in metrics else None

    state = _table(doc, "state", name)
    _unknown(state, frozenset({"dir", "checkpoint_interval_s"}), f"{name}: state")
    state_dir = (base / _str(state["dir"], f"{name}: state.dir")) if "dir" in state \
        else base / f"{path.stem}.state"
    interval = state.get("checkpoint_interval_s", CHECKPOINT_INTERVAL_S)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 <= interval <= 3600:
        raise ConfigError(f"{name}: state.checkpoint_interval_s must be a number of seconds in 0..3600")

    return PipelineConfig(path=path.resolve(), bootstrap_servers=bootstrap, producer=producer,
                          consumer=consumer, sources=sources, routes=routes, targets=targets,
                          dead_letter_topic=dead_topic, metrics_listen=listen, state_dir=state_dir.resolve(),
                          partitions=partitions, sse=sse, checkpoint_interval_s=float(interval))


def _sse(doc: dict[str, Any], name: str) -> SseConfig | None:
    if "sse" not in doc:
        return None
    from ..sse.config import SseConfig

    table = _table(doc, "sse", name)
    try:
        return SseConfig.from_dict(table)
    except ValueError as e:
        raise ConfigError(f"{name}: {e}") from None


def _sources(tables: Any, name: str, base: Path) -> tuple[SourceConfig, ...]:
    from ..decoding import SOURCE_NAMES  # decoder names incl. "auto"

    if tables is None:
        raise ConfigError(f"{name}: source: at least one [[source]] is required")
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables) or not tables:
        raise ConfigError(f"{name}: source must be a non-empty array of tables ([[source]])")
    out: list[SourceConfig] = []
    seen: set[str] = set()
    stdin = 0
    for i, t in enumerate(tables):
        where = f"{name}: source[{i}]"
        _unknown(t, SOURCE_KEYS, where)
        kind = t.get("type")
        if kind not in SOURCE_TYPES:
            raise ConfigError(f"{where}.type: {kind!r} is not one of {', '.join(SOURCE_TYPES)}")
        fmt = t.get("format", "auto")
        if fmt not in SOURCE_NAMES:
            raise ConfigError(f"{where}.format: unknown decoder {fmt!r}; choose one of {', '.join(SOURCE_NAMES)}")
        sname = _str(t.get("name", f"{kind}-{i}"), f"{where}.name")
        if sname in seen:
            raise ConfigError(f"{where}.name: duplicate source name {sname!r}")
        seen.add(sname)
        opts: dict[str, Any] = {}
        if "inotify_watches" in t:
            opts["inotify_watches"] = _watches(t["inotify_watches"], base, f"{where}.inotify_watches")
        if "pairing_window" in t:
            opts["pairing_window"] = _int(t["pairing_window"], f"{where}.pairing_window", 1, 1 << 20)
        if "max_record_bytes" in t:
            opts["max_record_bytes"] = _int(t["max_record_bytes"], f"{where}.max_record_bytes", 1, 1 << 30)
        if "path_prefix" in t:  # docs/formats.md §6: keeps this source's paths inside its own subtree
            opts["path_prefix"] = check_path_prefix(t["path_prefix"], f"{where}.path_prefix")
        paths: tuple[str, ...] = ()
        topics: tuple[str, ...] = ()
        group = None
        if kind == "file":
            if "paths" not in t:
                raise ConfigError(f"{where}.paths: required for a file source (a list of globs)")
            paths = tuple(str(base / p) for p in _strings(t["paths"], f"{where}.paths"))
        elif kind == "kafka":
            if "topics" not in t:
                raise ConfigError(f"{where}.topics: required for a kafka source")
            if "group" not in t:
                raise ConfigError(f"{where}.group: required for a kafka source (the consumer group id)")
            topics = _strings(t["topics"], f"{where}.topics")
            group = _str(t["group"], f"{where}.group")
        else:
            stdin += 1
            if stdin > 1:
                raise ConfigError(f"{where}.type: only one stdin source is possible")
        for key, needs in (("paths", "file"), ("topics", "kafka"), ("group", "kafka")):
            if key in t and kind != needs:
                raise ConfigError(f"{where}.{key}: only for type = \"{needs}\" sources")
        out.append(SourceConfig(sname, kind, fmt, paths, topics, group, opts))
    return tuple(out)


def _watches(value: Any, base: Path, where: str) -> dict[str, str]:
    if isinstance(value, dict):
        data: Any = value
    else:
        p = base / _str(value, where)
        try:
            data = json.loads(p.read_text("utf-8"))
        except OSError as e:
            raise ConfigError(f"{where}: cannot read {p}: {e.strerror}") from None
        except ValueError as e:
            raise ConfigError(f"{where}: {p} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ConfigError(f"{where}: must be a JSON object mapping subscription -> directory")
    return data


def _target(spec: RouteSpec, own: dict[str, Any], where: str) -> RouteTarget:
    extra = spec.extra
    if "topic" not in extra:
        raise ConfigError(f"{where}.topic: required (the Kafka topic of route {spec.name!r})")
    topic = _str(extra["topic"], f"{where}.topic")
    fmt = extra.get("format", "avro")
    if fmt not in ROUTE_FORMATS:
        raise ConfigError(f"{where}.format: {fmt!r} is not one of {', '.join(ROUTE_FORMATS)}")
    key = extra.get("key", "path")
    if key not in ROUTE_KEYS:
        raise ConfigError(f"{where}.key: {key!r} is not one of {', '.join(ROUTE_KEYS)}")
    schema_id = 0
    if fmt == "confluent":
        if "schema_id" not in own:
            raise ConfigError(f"{where}.schema_id: required for format = \"confluent\" (the registry id)")
        schema_id = _int(own["schema_id"], f"{where}.schema_id", 0, MAX_SCHEMA_ID)
    elif "schema_id" in own:
        raise ConfigError(f"{where}.schema_id: only for format = \"confluent\"")
    ocf_events = DEFAULT_OCF_EVENTS
    if "ocf_events" in own:
        if fmt != "ocf":
            raise ConfigError(f"{where}.ocf_events: only for format = \"ocf\"")
        ocf_events = _int(own["ocf_events"], f"{where}.ocf_events", 1, 1_000_000)
    return RouteTarget(spec.name, topic, fmt, key, schema_id, ocf_events)


def _listen(value: Any, where: str) -> tuple[str, int]:
    text = _str(value, where)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where}: {text!r} is not HOST:PORT (e.g. \"127.0.0.1:9464\")")
    return host.strip("[]"), int(port)
