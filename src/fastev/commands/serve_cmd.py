"""``fastev serve --config FILE``: the SSE server of the config's ``[sse]`` section, fed from Kafka.

Reads one route topic (``--topic``, or the config's only route topic), all its
partitions, with a plain consumer: no consumer group offsets are committed; on
start each partition is positioned so that the replay window (``sse.replay``
events, shared out over the partitions) is filled from the topic, then it
follows the topic live. Event ids are derived from Kafka positions: an id is
the opaque, encrypted cursor of every partition's next offset (fastev.sse.ids),
so several servers fed from the same topic and sharing ``sse.id_key_file``, and
a restarted server, understand each other's ids: a client resuming with
Last-Event-ID from any of them gets exactly the frames it missed (or EVENT_LOSS
first when part of what it missed is older than the window). Without
``sse.id_key_file`` the key lives only as long as the process.

Limitations: the route format must be ``avro`` or ``confluent`` (one event per
message; ``ocf`` topics are refused); partitions added to the topic while the
server runs are picked up at its next start. Kafka must be reachable at
kafka.bootstrap_servers (no embedded broker). Runs until SIGTERM/SIGINT. Exit
status: 0 stopped, 1 Kafka error, 2 configuration error.
"""
from __future__ import annotations

import argparse
import sys
from typing import IO, Any

__all__ = ("add_parser", "run", "main", "serve")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve route topics to authenticated SSE clients", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE", help="pipeline config (TOML) with an [sse] section")
    p.add_argument("--topic", metavar="TOPIC", help="the route topic to serve (default: the only route topic)")
    p.set_defaults(run=run)


def _fail(message: str, status: int, log: IO[str]) -> int:
    print(f"fastev serve: error: {message}", file=log, flush=True)
    return status


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..pipeline import load_config

    try:
        config = load_config(args.config)
    except ConfigError as e:
        return _fail(str(e), 2, sys.stderr)
    return serve(config, args.topic)


def serve(config: Any, topic: str | None = None, *, log: IO[str] | None = None) -> int:
    """Serve ``config``'s [sse] fed from ``topic``; returns the exit status."""
    from ..errors import ConfigError
    from ..pipeline.preflight import check_listen
    from ..source_trust import config_spoofing_warnings
    from ..sse.config import build
    from ..sse.kafka_feed import FeedError, feed_and_serve

    log = log or sys.stderr
    if config.sse is None:
        return _fail(f"{config.path}: an [sse] section is required", 2, log)
    if config.bootstrap_servers is None:
        return _fail(f"{config.path}: kafka.bootstrap_servers is required (fastev serve reads a running Kafka)",
                     2, log)
    topics = list(dict.fromkeys(t.topic for t in config.targets))
    if topic is None:
        if len(topics) != 1:
            return _fail(f"{config.path}: {len(topics)} route topics ({', '.join(topics) or 'none'}): "
                         "choose one with --topic", 2, log)
        topic = topics[0]
    target = next((t for t in config.targets if t.topic == topic), None)
    if target is None:
        return _fail(f"--topic {topic!r} is not a route topic of {config.path}", 2, log)
    if target.format not in ("avro", "confluent"):
        return _fail(f"route {target.name!r}: format {target.format!r} is not served yet "
                     "(one event per message is needed: avro or confluent)", 2, log)
    acl = None
    if config.routes.acl_file is not None:
        from ..acl import Acl

        acl = Acl.from_toml(config.routes.acl_file)
    for line in config_spoofing_warnings(config):  # docs/formats.md §6
        print(f"fastev serve: warning: {line}", file=log, flush=True)
    try:
        hub, app = build(config.sse, acl, config.path.parent, stream=f"kafka-topic:{topic}")
        if config.sse.port != 0:  # a busy port is a config error found before Kafka is asked anything
            check_listen("sse.listen", (config.sse.host, config.sse.port))
    except ConfigError as e:
        return _fail(str(e), 2, log)
    except (ValueError, OSError) as e:
        return _fail(f"sse: {e}", 2, log)
    try:
        return feed_and_serve(config, topic, target.format, hub, app, log)
    except FeedError as e:
        return _fail(str(e), e.status, log)


def main(argv: list[str] | None = None) -> int:
    """``python -m fastev.commands.serve_cmd --config FILE`` (same as ``fastev serve``)."""
    parser = argparse.ArgumentParser(prog="fastev")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
