"""``fastev run``: sources -> Transcoder (one per stream and framing) -> KafkaPublisher, on uvloop.

Every unit a source yields gets one delivery token; everything derived from it
(route messages, dead letters) is sent under that token, which is then sealed.
When the publisher reports the token delivered, the stream's CompletionTracker
releases the positions of the completed prefix to the source's commit (file
checkpoint, Kafka offset commit). A failed delivery or fatal producer error
stops the pipeline without committing anything after it, exit status 1.

Backpressure: a unit is decoded and sent only while the producer queue holds
fewer than ``high_water`` messages; until then the source waits (never drops).

With ``[sse]`` the same process also serves the events over SSE (``sse_serving``).
An SSE-only config (no Kafka target, no dead-letter topic, no Kafka source) uses
no Kafka at all: positions are committed once decoded.
"""
from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import IO, Any

from confluent_kafka import KafkaException

from ..aio import run_event_loop
from ..errors import ConfigError, DeliveryError
from ..kafka.delivery import RouteSender
from ..kafka.publisher import KafkaPublisher
from ..routes import RoutesConfig
from ..source_trust import config_spoofing_warnings
from ..transcode import Transcoder
from .checkpoint import CheckpointWriteError, FileCheckpoints
from .config import PipelineConfig, RouteTarget
from .deadletters import unit_dead_letters
from .kafka_source import KafkaSource
from .metrics import PipelineMetrics
from .no_kafka import NoKafkaPublisher
from .result import RunResult, SourceStats, print_summary
from .sources import FileSource, StdinSource, Stream, Unit, make_source
from .sse_serving import SseServing

__all__ = ("Pipeline", "RunResult", "run_pipeline")

POLL_INTERVAL_S = 0.005
LAG_INTERVAL_S = 1.0
DEFAULT_QUEUE_MESSAGES = 500000


SSE_DECODER = ("sse", 0)  # Stream.transcoders key of the stream's SSE decoder


@dataclass(slots=True)
class _Pending:
    stream: Stream
    source: str
    started: float
    events: dict[str, int]
    dead: int = 0


class Pipeline:
    def __init__(self, config: PipelineConfig, bootstrap: str, *, progress: bool = False,
                 log: IO[str] | None = None, temporary_broker: bool = False) -> None:
        self.config = config
        self.log = log or sys.stderr
        self.bootstrap = bootstrap
        self.temporary_broker = temporary_broker
        self.metrics = PipelineMetrics(config.metrics_listen)
        self.publisher: Any
        if config.needs_kafka:
            producer_conf = {**config.producer, "bootstrap.servers": bootstrap}
            try:
                self.publisher = KafkaPublisher(producer_conf, on_delivery=self._on_delivery)
            except KafkaException as exc:
                raise ConfigError(f"kafka.producer: {exc.args[0].str()}") from None
        else:
            self.publisher = NoKafkaPublisher(self._on_delivery)
        qmax = int(self.publisher.config.get("queue.buffering.max.messages", DEFAULT_QUEUE_MESSAGES))
        # Half the local queue: a unit's messages usually fit without hitting BufferError.
        self.high_water = max(1, qmax // 2)
        self.sender = RouteSender(self.publisher)
        # One transcoder per framing in use; ("avro", 0) first: its batch reports the errors.
        framings: dict[tuple[str, int], list[RouteTarget]] = {}
        for t in sorted(config.targets, key=lambda t: t.framing != ("avro", 0)):
            framings.setdefault(t.framing, []).append(t)
        self.framings = list(framings.items())
        # Transcoders route to the Kafka targets only (with [sse], routes without a topic are no target).
        names = {t.name for t in config.targets}
        self.routes = config.routes if len(names) == len(config.routes.routes) else \
            RoutesConfig(tuple(r for r in config.routes.routes if r.name in names), config.routes.acl_file)
        self.sse = SseServing(config) if config.sse is not None else None
        # Positions acknowledged by a broker that dies with this process must not be found by a later
        # run against a real one: with the embedded broker nothing is read or saved.
        self.checkpoints = FileCheckpoints(config.state_dir, config.checkpoint_interval_s,
                                           persist=not temporary_broker, log=self.log)
        self.stats = {s.name: SourceStats() for s in config.sources}
        self.routes_delivered = {t.name: 0 for t in config.targets}
        self.dead_delivered = 0
        self._pending: dict[int, _Pending] = {}
        self._seq = 0
        self._failure: DeliveryError | None = None
        self._broken = False   # a unit failed half-way: commit nothing from now on
        self.stop = asyncio.Event()
        self.progress_enabled = progress
        self._progress: Any = None
        self._progress_task: Any = None
        self.sources: list[FileSource | StdinSource | KafkaSource] = []

    def check_topics(self) -> None:
        """Every route topic and the dead-letter topic must exist: fail before reading anything."""
        for topic in self.config.topics():
            self.publisher.ensure_topic(topic)

    def open_sources(self) -> None:
        """Open every source; a Kafka source's topics are looked up first (fail before reading anything)."""
        for s in self.config.sources:
            source = make_source(s, self.checkpoints, self.bootstrap, self.config.consumer)
            self.sources.append(source)  # appended first: close() closes it even when the check fails
            if isinstance(source, KafkaSource):
                source.check_topics()

    def _transcoder(self, stream: Stream, framing: tuple[str, int]) -> Any:
        tc = stream.transcoders.get(framing)
        if tc is None:
            tc = Transcoder(stream.source.format, self.routes, framing=framing[0], schema_id=framing[1],
                            **stream.source.decoder_options)
            stream.transcoders[framing] = tc
        return tc

    # -- delivery reports ---------------------------------------------------------------------
    def _on_delivery(self, token: Hashable, error: DeliveryError | None) -> None:
        assert isinstance(token, int)
        p = self._pending.pop(token)
        if error is not None:
            if self._failure is None:
                self._failure = error
            return
        for route, n in p.events.items():
            self.routes_delivered[route] += n
            self.metrics.events_out.labels(route).inc(n)
        if p.dead:
            self.dead_delivered += p.dead
            self.metrics.dead_letters.inc(p.dead)
        self.metrics.latency.observe(time.monotonic() - p.started)
        if self._failure is None and not self._broken:
            p.stream.tracker.done(token)

    # -- the unit path ------------------------------------------------------------------------
    async def _room(self) -> None:
        """Backpressure: wait (serving delivery reports) until the producer queue is under high water."""
        publisher = self.publisher
        if len(publisher) < self.high_water:
            return
        self.metrics.backpressure.set(1)
        while len(publisher) >= self.high_water:
            publisher.poll(0)
            await asyncio.sleep(POLL_INTERVAL_S)
        self.metrics.backpressure.set(0)

    def process(self, unit: Unit) -> None:
        stream = unit.stream
        name = stream.source.name
        stats = self.stats[name]
        token = self._seq
        self._seq += 1
        pending = self._pending[token] = _Pending(stream, name, time.monotonic(), {})
        stream.tracker.add(token, unit.position)
        try:
            errors: list[Any] = []
            for i, (framing, targets) in enumerate(self.framings):
                batch = _feed(self._transcoder(stream, framing), unit)
                for target in targets:
                    n, _ = self.sender.send(batch, target, token)
                    if n:
                        pending.events[target.name] = pending.events.get(target.name, 0) + n
                if i == 0:
                    errors = list(batch.errors)
                    self._count(name, batch.stats)
                del batch  # the native codec reuses its buffers for the next feed
            if self.sse is not None:
                errors = self._publish(self.sse, unit, errors)
            if errors:
                self._dead_letters(unit, errors, token, pending)
            if not isinstance(unit.data, bytes):
                stream.records_fed += len(unit.data)
            stats.read_bytes += unit.read_bytes
            self.metrics.bytes_in.labels(name).inc(unit.read_bytes)
        except BaseException:
            # Part of the unit may be queued: its token must never release the position.
            self._broken = True
            raise
        finally:
            self.publisher.seal(token)

    def _publish(self, sse: SseServing, unit: Unit, errors: list[Any]) -> list[Any]:
        """Decode the unit for SSE and publish every event; SSE only: its errors and counts are the unit's."""
        stream = unit.stream
        dec = stream.transcoders.get(SSE_DECODER)
        if dec is None:
            from ..decoding import Decoder

            dec = stream.transcoders[SSE_DECODER] = Decoder(stream.source.format, **stream.source.decoder_options)
        batch = _feed(dec, unit)
        sse.publish(batch.events)
        if self.framings:
            return errors
        self._count(stream.source.name, batch.stats)
        return list(batch.errors)

    def _count(self, name: str, st: Any) -> None:
        """A batch's decode counts, into the source's summary and metrics (once per unit)."""
        stats = self.stats[name]
        stats.records += st.records
        stats.decoded += st.decoded
        stats.rejected += st.rejected
        stats.skipped += st.skipped
        stats.loss += st.loss
        self.metrics.records_in.labels(name).inc(st.records)
        self.metrics.decoded.labels(name).inc(st.decoded)

    def _dead_letters(self, unit: Unit, errors: list[Any], token: int, pending: _Pending) -> None:
        """Count every error; send one dead letter per rejected raw message (all its reasons in it)."""
        name = unit.stream.source.name
        for err in errors:
            self.metrics.rejects.labels(name, err.reason).inc()
        topic = self.config.dead_letter_topic
        if topic is None:
            return
        letters = unit_dead_letters(errors, unit.stream, unit.inputs, name)
        if letters:
            self.publisher.send(topic, [v for v, _ in letters], None, [h for _, h in letters], token=token)
            pending.dead += len(letters)

    async def _run_source(self, source: FileSource | StdinSource | KafkaSource) -> None:
        async for unit in source.units(self.stop):
            await self._room()
            self.process(unit)
            self.publisher.poll(0)
            if self.checkpoints.failure is not None:
                raise self.checkpoints.failure
            if self._progress is not None and unit.read_bytes:
                self._progress.advance(self._progress_task, unit.read_bytes)
            await asyncio.sleep(0)  # let the other sources and the poller run
        if isinstance(source, FileSource | StdinSource):
            self.stats[source.config.name].inputs = len(source.paths) if isinstance(source, FileSource) else 1

    async def _poller(self) -> None:
        last_lag = 0.0
        while True:
            self.publisher.poll(0)
            self.metrics.queue.set(len(self.publisher))
            now = time.monotonic()
            if now - last_lag > LAG_INTERVAL_S:
                last_lag = now
                for s in self.sources:
                    if isinstance(s, KafkaSource):
                        for (topic, part), lag in s.consumer_lag().items():
                            self.metrics.lag.labels(s.config.name, topic, str(part)).set(lag)
            await asyncio.sleep(POLL_INTERVAL_S)

    async def _drain(self) -> None:
        """Wait for every delivery report (the broker may be slow or frozen: keep waiting)."""
        for s in self.sources:
            if isinstance(s, KafkaSource):
                s.asynchronous = False
        while len(self.publisher) > 0 or self._pending:
            self.publisher.poll(0.05)
            await asyncio.sleep(0)

    def _start_progress(self) -> None:
        files = [s for s in self.sources if isinstance(s, FileSource)]
        if not self.progress_enabled or not files:
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

        self._progress = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TimeRemainingColumn(), transient=True)
        total = sum(s.total_bytes for s in files)
        done = sum(s.start_bytes for s in files)
        self._progress_task = self._progress.add_task("fastev run", total=total, completed=done)
        self._progress.start()

    async def run(self) -> RunResult:
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        poller = asyncio.create_task(self._poller())
        tasks = [asyncio.create_task(self._run_source(s)) for s in self.sources]
        self._start_progress()
        status, error = 0, None
        try:
            pending_tasks = set(tasks)
            while pending_tasks:
                done, pending_tasks = await asyncio.wait(pending_tasks, return_when=asyncio.FIRST_EXCEPTION)
                for t in done:
                    exc = t.exception()
                    if exc is not None:
                        raise exc
                if self._failure is not None:
                    raise self._failure
            await self._drain()
            if self._failure is not None:
                raise self._failure
            self.checkpoints.flush()  # before serving SSE on: the sources' final positions are on disk
            if self.checkpoints.failure is not None:
                raise self.checkpoints.failure
            if self.sse is not None and not self.stop.is_set():
                print("fastev run: sources done; still serving SSE until SIGTERM/SIGINT", file=self.log, flush=True)
                await self.stop.wait()
        except (DeliveryError, ConfigError, CheckpointWriteError) as e:
            status, error = 1, str(e)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            # Positions released (everything before them acknowledged) but held back by the checkpoint
            # interval: write them, also after a failure (they stay valid; later ones were never released).
            self.checkpoints.flush()
            if self.checkpoints.failure is not None and error is None:
                status, error = 1, str(self.checkpoints.failure)
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            if self._progress is not None:
                self._progress.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return RunResult(status, self.stats, dict(self.routes_delivered), self.dead_delivered, error,
                         self.stop.is_set(), time.monotonic() - started, self.temporary_broker)

    def close(self) -> None:
        for s in self.sources:
            if isinstance(s, KafkaSource):
                try:
                    s.close()
                except Exception as exc:  # noqa: BLE001 - closing must not mask the run's result
                    print(f"fastev run: closing source {s.config.name!r}: {exc}", file=self.log)
        self.metrics.close()


def _feed(coder: Any, unit: Unit) -> Any:
    """Feed a unit to a Transcoder or Decoder: its end, a chunk of bytes, or a batch of records."""
    if unit.final:
        return coder.finish()
    if isinstance(unit.data, bytes):
        return coder.feed(unit.data)
    return coder.feed_records(unit.data, unit.offsets)


def run_pipeline(config: PipelineConfig, *, progress: bool = False, log: IO[str] | None = None,
                 summary_json: str | None = None, out: IO[str] | None = None) -> int:
    """Run to completion (files, stdin) or until SIGTERM/SIGINT (Kafka sources); returns the exit status."""
    log = log or sys.stderr
    out = out or sys.stdout
    broker = None
    bootstrap = config.bootstrap_servers
    try:
        for line in config_spoofing_warnings(config):  # docs/formats.md §6
            print(f"fastev run: warning: {line}", file=log, flush=True)
        if bootstrap is None and config.needs_kafka:
            from ..kafka.broker import EmbeddedBroker

            broker = EmbeddedBroker().start()
            bootstrap = broker.bootstrap
            topics = config.topics() + [t for s in config.sources for t in s.topics]
            broker.create_topics(topics, config.partitions)
            print(f"fastev run: no kafka.bootstrap_servers: started the embedded broker (Tansu, memory "
                  f"storage) on {bootstrap}; created topics {', '.join(topics)}", file=log, flush=True)
        async def main() -> RunResult:
            pipeline = Pipeline(config, bootstrap or "", progress=progress, log=log,
                                temporary_broker=broker is not None)
            try:
                if pipeline.sse is not None:
                    await pipeline.sse.start()
                    host, port = pipeline.sse.address or ("", 0)
                    print(f"fastev run: SSE on http://{host}:{port}/events", file=log, flush=True)
                pipeline.check_topics()
                pipeline.open_sources()
                if config.dead_letter_topic is None and config.needs_kafka:
                    print("fastev run: no [dead_letter] topic: rejected records are only counted", file=log)
                if pipeline.metrics.address is not None:
                    host, port = pipeline.metrics.address
                    print(f"fastev run: metrics on http://{host}:{port}/metrics", file=log, flush=True)
                return await pipeline.run()
            finally:
                if pipeline.sse is not None:
                    await pipeline.sse.stop()
                pipeline.close()

        result: RunResult = run_event_loop(main())
    except ConfigError as e:
        print(f"fastev run: error: {e}", file=log)
        return 2
    except DeliveryError as e:
        print(f"fastev run: error: {e}", file=log)
        return 1
    finally:
        if broker is not None:
            broker.stop()
    print_summary(result, config, out)
    if result.error:
        print(f"fastev run: error: {result.error}; positions after the failure were not committed", file=log)
    if summary_json:
        try:
            with open(summary_json, "w", encoding="utf-8") as f:
                json.dump(result.as_dict(), f, indent=2)
        except OSError as e:  # after the run: what was delivered and checkpointed stays so
            print(f"fastev run: error: --summary-json: cannot write {summary_json}: {e.strerror}", file=log)
            return result.status or 2
    return result.status
