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
import asyncio
import io
import signal
import sys
import uuid
from typing import IO, Any, cast

__all__ = ("add_parser", "run", "main", "serve", "start_offsets")

CONSUME_BATCH = 1000
CONSUME_TIMEOUT_S = 0.2
CONFLUENT_HEADER = 5  # magic byte + 4-byte schema id


def start_offsets(watermarks: dict[int, tuple[int, int]], replay: int) -> dict[int, int]:
    """Where each partition starts so that the replay window holds up to ``replay`` of the newest events,
    shared out evenly (a partition with fewer events leaves its share to the others)."""
    first = {p: high for p, (low, high) in watermarks.items()}
    left, open_ = replay, sorted(p for p, (low, high) in watermarks.items() if high > low)
    while left > 0 and open_:
        share = max(1, left // len(open_))
        still = []
        for p in open_:
            low = watermarks[p][0]
            take = min(share, first[p] - low, left)
            first[p] -= take
            left -= take
            if first[p] > low:
                still.append(p)
            if left == 0:
                break
        open_ = still
    return first


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
        hub, app = build(config.sse, acl, config.path.parent, stream=f"kafka-topic:{topic}")
    except (ValueError, OSError, ConfigError) as e:
        return _fail(f"sse: {e}", 2, log)
    read = _avro_reader(target.format)

    from ..errors import DeliveryError
    from ..kafka.librdkafka_log import client_topic_metadata, watched_client_config

    # librdkafka's log through fastev's logging; an unreachable broker: one line within seconds
    consumer_conf, watch = watched_client_config({
        **config.consumer, "bootstrap.servers": config.bootstrap_servers,
        "group.id": f"fastev-serve-{uuid.uuid4()}",  # required by librdkafka; never committed
        "enable.auto.commit": False, "enable.auto.offset.store": False})
    try:
        consumer = Consumer(consumer_conf)
    except KafkaException as e:
        return _fail(f"kafka.consumer: {e.args[0].str()}", 2, log)
    try:
        try:
            try:
                meta = client_topic_metadata(consumer, watch, config.bootstrap_servers, topic, 10)
            except DeliveryError as e:
                return _fail(str(e), 1, log)
            if meta is None or meta.error is not None:
                reason = meta.error.str() if meta is not None and meta.error is not None else "not found"
                return _fail(f"topic {topic!r}: {reason}", 2, log)
            partitions = sorted(meta.partitions)
            watermarks = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                          for p in partitions}
        except KafkaException as e:
            return _fail(f"topic {topic!r}: {e.args[0].str()}", 1, log)
        first = start_offsets(watermarks, config.sse.replay)
        for p in partitions:
            hub.seek(p, first[p], watermarks[p][0])
        consumer.assign([TopicPartition(topic, p, first[p]) for p in partitions])

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
                    hub.publish(read(value), msg.offset(), msg.partition())
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
            position = dict(first)
            while any(position[p] < watermarks[p][1] for p in partitions) and not stop.is_set():
                msgs = await loop.run_in_executor(None, consumer.consume, CONSUME_BATCH, CONSUME_TIMEOUT_S)
                for msg in msgs:
                    offset, partition = msg.offset(), msg.partition()
                    if msg.error() is None and offset is not None and partition is not None:
                        position[partition] = offset + 1
                if publish(msgs) is not None:
                    return 1
            try:
                runner, port = await start(app, config.sse.host, config.sse.port)
            except OSError as e:
                return _fail(f"sse.listen: cannot listen on {config.sse.host}:{config.sse.port}: {e.strerror}",
                             2, log)
            print(f"fastev serve: SSE on http://{config.sse.host}:{port}/events, fed from {topic} "
                  f"({len(partitions)} partition(s), replay window from offsets "
                  f"{', '.join(f'{p}:{first[p]}' for p in partitions)})", file=log, flush=True)
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
