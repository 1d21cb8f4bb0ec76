"""``fastev serve --config FILE``: the SSE server of the config's ``[sse]`` section, fed from Kafka.

Reads one route topic (``--topic``, or the config's only route topic) with a
plain consumer: no consumer group offsets are committed; on start the consumer
is positioned so that the replay window (``sse.replay`` events) is filled from
the topic, then it follows the topic live. Several servers fed from the same
topic, and a restarted server, give every event the same id, derived from its
Kafka position: ``id = offset + 1``. A client resuming with Last-Event-ID from
any of them gets exactly the frames it missed (or EVENT_LOSS when its id is
older than the window).

Limitations (for now): the topic must have exactly one partition (ids of
several partitions would need a combined position; such a topic is refused),
and the route format must be ``avro`` or ``confluent`` (one event per message;
``ocf`` topics are refused). Kafka must be reachable at kafka.bootstrap_servers
(no embedded broker). Runs until SIGTERM/SIGINT. Exit status: 0 stopped,
1 Kafka error, 2 configuration error.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import signal
import sys
import uuid
from typing import IO, Any, cast

__all__ = ("add_parser", "run", "main", "serve", "event_id")

CONSUME_BATCH = 1000
CONSUME_TIMEOUT_S = 0.2
CONFLUENT_HEADER = 5  # magic byte + 4-byte schema id


def event_id(offset: int) -> int:
    """The SSE id of the event at ``offset`` of a single-partition route topic."""
    return offset + 1


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


def _avro_reader(fmt: str) -> Any:
    import fastavro

    from ..event import schema

    avro_schema: Any = schema
    # time_us as a plain long: the same ints as the decoder's event dicts (and fastev run's SSE frames).
    parsed = fastavro.parse_schema({**avro_schema(), "fields": [
        {**f, "type": "long"} if f["name"] == "time_us" else f for f in avro_schema()["fields"]]})
    skip = CONFLUENT_HEADER if fmt == "confluent" else 0

    def read(value: bytes) -> dict[str, Any]:
        event: Any = fastavro.schemaless_reader(io.BytesIO(memoryview(value)[skip:]), parsed)
        return cast(dict[str, Any], event)

    return read


def serve(config: Any, topic: str | None = None, *, log: IO[str] | None = None) -> int:
    """Serve ``config``'s [sse] fed from ``topic``; returns the exit status."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from ..errors import ConfigError
    from ..pipeline.run import _event_loop_runner
    from ..sse.config import build
    from ..sse.server import start

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
    try:
        hub, app = build(config.sse, acl, config.path.parent)
    except (ValueError, OSError, ConfigError) as e:
        return _fail(f"sse: {e}", 2, log)
    read = _avro_reader(target.format)

    consumer_conf = {**config.consumer, "bootstrap.servers": config.bootstrap_servers,
                     "group.id": f"fastev-serve-{uuid.uuid4()}",  # required by librdkafka; never committed
                     "enable.auto.commit": False, "enable.auto.offset.store": False}
    try:
        consumer = Consumer(consumer_conf)
    except KafkaException as e:
        return _fail(f"kafka.consumer: {e.args[0].str()}", 2, log)
    try:
        try:
            meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if meta is None or meta.error is not None:
                reason = meta.error.str() if meta is not None and meta.error is not None else "not found"
                return _fail(f"topic {topic!r}: {reason}", 2, log)
            if len(meta.partitions) != 1:
                return _fail(f"topic {topic!r} has {len(meta.partitions)} partitions: fastev serve derives event "
                             "ids from the offsets of a single-partition topic (id = offset + 1) and cannot "
                             "serve it yet", 2, log)
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        except KafkaException as e:
            return _fail(f"topic {topic!r}: {e.args[0].str()}", 1, log)
        first = max(low, high - config.sse.replay)
        consumer.assign([TopicPartition(topic, 0, first)])

        def publish(msgs: list[Any]) -> int | None:
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.fatal():
                        return _fail(f"kafka: {err.str()}", 1, log)
                    continue  # partition EOF and transient errors
                value = msg.value()
                if value is None:
                    continue
                try:
                    hub.publish(read(value), event_id(msg.offset()))
                except (ValueError, EOFError, IndexError, TypeError) as e:
                    print(f"fastev serve: offset {msg.offset()}: not served: {e}", file=log, flush=True)
            return None

        async def main() -> int:
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            # Fill the replay window up to the end seen at start before accepting clients: a client resuming
            # from an id in the window then gets exactly what followed it, never a frame it already had.
            position = first
            while position < high and not stop.is_set():
                msgs = await loop.run_in_executor(None, consumer.consume, CONSUME_BATCH, CONSUME_TIMEOUT_S)
                for msg in msgs:
                    offset = msg.offset()
                    if msg.error() is None and offset is not None:
                        position = offset + 1
                if publish(msgs) is not None:
                    return 1
            try:
                runner, port = await start(app, config.sse.host, config.sse.port)
            except OSError as e:
                return _fail(f"sse.listen: cannot listen on {config.sse.host}:{config.sse.port}: {e.strerror}",
                             2, log)
            print(f"fastev serve: SSE on http://{config.sse.host}:{port}/events, fed from {topic} "
                  f"(from offset {first}; ids = offset + 1)", file=log, flush=True)
            try:
                while not stop.is_set():
                    msgs = await loop.run_in_executor(None, consumer.consume, CONSUME_BATCH, CONSUME_TIMEOUT_S)
                    if publish(msgs) is not None:
                        return 1
                return 0
            finally:
                await runner.cleanup()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

        status: int = _event_loop_runner()(main())
        return status
    finally:
        consumer.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m fastev.commands.serve_cmd --config FILE`` (same as ``fastev serve``)."""
    parser = argparse.ArgumentParser(prog="fastev")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
