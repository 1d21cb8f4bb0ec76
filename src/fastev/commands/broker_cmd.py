"""``fastev broker``: run the embedded Kafka-protocol broker (Tansu, memory storage) on loopback.

Prints the bootstrap address on stdout (``127.0.0.1:PORT``), then runs until
SIGINT or SIGTERM and stops the broker cleanly. Everything is kept in memory
and lost when it stops. Needs ``pip install 'fastev[embedded]'``.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from ..errors import ConfigError, DeliveryError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("broker", help="run the embedded Kafka broker on loopback", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, metavar="N", help="TCP port on 127.0.0.1 (default: a free one)")
    p.add_argument("--topic", action="append", default=[], metavar="NAME",
                   help="create this topic at start (repeatable)")
    p.add_argument("--partitions", type=int, default=1, metavar="N", help="partitions of --topic topics")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..kafka.broker import EmbeddedBroker

    if not 0 <= args.port <= 65535:
        print(f"fastev broker: error: --port {args.port} is not a TCP port (0..65535)", file=sys.stderr)
        return 2
    if not 1 <= args.partitions <= 1024:
        print(f"fastev broker: error: --partitions {args.partitions} must be in 1..1024", file=sys.stderr)
        return 2
    if any(not t or len(t) > 249 for t in args.topic):
        print("fastev broker: error: --topic names must be 1..249 characters", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    broker = EmbeddedBroker(args.port)
    try:
        try:
            broker.start()
            if args.topic:
                broker.create_topics(args.topic, args.partitions)
        except (ConfigError, DeliveryError) as e:
            print(f"fastev broker: error: {_first_line(e)}", file=sys.stderr)
            return 2 if isinstance(e, ConfigError) else 1
        print(broker.bootstrap, flush=True)
        print(f"fastev broker: Tansu on {broker.bootstrap} (memory storage, pid {broker.pid}); "
              "Ctrl-C or SIGTERM stops it", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            if not broker.running():
                last = broker.stderr_tail().strip().splitlines()[-1:] or ["(no output)"]
                print(f"fastev broker: error: the broker exited unexpectedly; its last line: {last[0]}",
                      file=sys.stderr)
                return 1
        return 0
    finally:
        broker.stop()
        for s, h in previous.items():
            signal.signal(s, h)


def _first_line(e: Exception) -> str:
    """The broker's errors end with its log tail; the user gets the first line (the cause)."""
    text = str(e)
    return text.split(";", 1)[0] if "\n" in text else text
