"""``fastev workflow run``: route topics in, actions out, at least once (README "Workflows").

One consumer-group member reads the route topics (and, for chained workflows, the results topic), hands each
matching (event, workflow) pair to that workflow's Lane, publishes every terminal outcome (result CloudEvent,
dead letter) and commits a partition only up to its oldest message with an unfinished pair (``OffsetLedger``).
A pair is finished when Kafka acknowledged its outcome messages. Within one runner's lifetime a pair read
twice (a replay, a duplicate message) runs once; a partition revoked by a rebalance forgets its pairs, so the
member that gets it runs them again (at least once, never lost).
"""
from __future__ import annotations

import asyncio
import itertools
import sys
import time
from typing import IO, Any

import orjson

from ..errors import ConfigError, DeliveryError
from ..event import FIELDS
from ..kafka.librdkafka_log import client_topic_metadata, watched_client_config
from ..pipeline.kafka_source import CONSUMER_DEFAULTS
from .actions import build_action
from .attempt import Job
from .lane import Lane, Task
from .match import Matcher
from .messages import MessageError, read_events
from .metrics import WorkflowStats
from .offsets import OffsetLedger, TopicPartition
from .outcomes import Outcome, dead_letter_headers, invalid_message_headers, result_message

__all__ = ("WorkflowRunner", "SEEN_LIMIT")

CONSUME_BATCH = 1000
CONSUME_TIMEOUT_S = 0.1
COMMIT_INTERVAL_S = 0.5
LAG_INTERVAL_S = 5.0
TOPIC_LOOKUP_TIMEOUT_S = 10.0
FLUSH_TIMEOUT_S = 30.0
SEEN_LIMIT = 1_000_000   # (event, workflow) pairs remembered for de-duplication; the oldest go first
_FIELDS = frozenset(FIELDS)
RESULT_HEADERS: list[tuple[str, str | bytes | None]] = [("content-type", "application/cloudevents+json")]


class WorkflowRunner:
    def __init__(self, config: Any, *, log: IO[str] | None = None, stats: WorkflowStats | None = None) -> None:
        if not config.bootstrap_servers:
            raise ConfigError(f"{config.path}: kafka.bootstrap_servers: required by `fastev workflow run`")
        self.config = config
        self.log = log or sys.stderr
        self.specs = {w.name: w for w in config.workflows}
        self.matchers = {w.name: Matcher(w.match) for w in config.workflows}
        self.roots = [w for w in config.workflows if w.match.after is None]
        self.children: dict[str, list[Any]] = {}
        for w in config.workflows:
            if w.match.after is not None:
                self.children.setdefault(w.match.after, []).append(w)
        self.topics = list(dict.fromkeys(config.topics))
        if self.children and config.results_topic and config.results_topic not in self.topics:
            self.topics.append(config.results_topic)
        self.stats = stats or WorkflowStats(list(self.specs), config.metrics_listen)
        self.ledger = OffsetLedger()
        self.gen: dict[TopicPartition, int] = {}            # bumped when a partition is revoked
        self.live: dict[TopicPartition, set[Task]] = {}      # unfinished tasks per partition
        self.seen: dict[tuple[str, str], None] = {}          # (event id, workflow) run in this lifetime
        self.pending = 0                                     # tasks + dead letters not yet finished
        self.tokens: dict[int, tuple[Task | None, TopicPartition, int, int, Outcome | None]] = {}
        self._token = itertools.count()
        self.assigned: set[TopicPartition] = set()
        self.paused = False
        self._fatal: BaseException | None = None
        self._kick: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.consumer: Any = None
        self.publisher: Any = None
        self.lanes: dict[str, Lane] = {}

    # -- connect -------------------------------------------------------------------------------
    def connect(self) -> None:
        """Create the consumer and producer and check every topic exists (DeliveryError otherwise)."""
        from confluent_kafka import Consumer, KafkaException

        from ..kafka import KafkaPublisher

        cfg = self.config
        conf = {**CONSUMER_DEFAULTS, **cfg.consumer, "bootstrap.servers": cfg.bootstrap_servers,
                "group.id": cfg.group, "enable.auto.commit": False, "enable.auto.offset.store": False}

        def error_cb(err: Any) -> None:
            if err.fatal():
                self._fatal = DeliveryError(f"fatal consumer error: {err.str()}")

        conf["error_cb"] = error_cb
        conf, watch = watched_client_config(conf)
        try:
            self.consumer = Consumer(conf)
        except KafkaException as exc:
            raise ConfigError(f"{cfg.path}: kafka.consumer: {exc.args[0].str()}") from None
        for topic in self.topics:
            meta = client_topic_metadata(self.consumer, watch, cfg.bootstrap_servers, topic, TOPIC_LOOKUP_TIMEOUT_S)
            if meta is None or meta.error is not None:
                reason = meta.error.str() if meta is not None and meta.error is not None else "not listed"
                raise DeliveryError(f"topic {topic!r} does not exist on {cfg.bootstrap_servers} ({reason})")
        try:
            self.publisher = KafkaPublisher({**cfg.producer, "bootstrap.servers": cfg.bootstrap_servers},
                                            on_delivery=self._on_delivery)
        except KafkaException as exc:
            raise ConfigError(f"{cfg.path}: kafka.producer: {exc.args[0].str()}") from None
        for topic in self._output_topics():
            self.publisher.ensure_topic(topic)

    def _output_topics(self) -> list[str]:
        cfg = self.config
        out = [cfg.results_topic, cfg.dead_letter_topic, *(w.delivery.dead_letter_topic for w in cfg.workflows)]
        return list(dict.fromkeys(t for t in out if t))

    # -- the loop ------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> dict[str, Any]:
        """Consume and act until ``stop``; then drain (grace period), flush, commit. Returns the summary."""
        self._loop = asyncio.get_running_loop()
        self._kick = asyncio.Event()
        for spec in self.config.workflows:
            lane = Lane(spec, build_action(spec.action, spec.delivery.concurrency), self.finish, self._owned,
                        self._drop, self.stats)
            self.lanes[spec.name] = lane
            lane.start()
        helpers = [asyncio.create_task(self._serve_deliveries()), asyncio.create_task(self._commit_often())]
        self.consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_revoke)
        try:
            while not stop.is_set():
                self._check()
                self._pace()
                msgs = await asyncio.to_thread(self.consumer.consume, CONSUME_BATCH, CONSUME_TIMEOUT_S)
                for m in msgs:
                    self._dispatch(m)
                for lane in self.lanes.values():
                    self.stats.running(lane.spec.name, lane.in_flight)
            await self._drain()
        finally:
            for h in helpers:
                h.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            for lane in self.lanes.values():
                await lane.action.close()
            self._loop = None
        self._check()
        return self.stats.summary()

    def _check(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self.publisher.error is not None:
            raise self.publisher.error

    def _pace(self) -> None:
        """Backpressure: stop fetching while ``max_pending`` pairs are unfinished (consume() still serves
        rebalances and heartbeats), go on below half of it."""
        limit = self.config.max_pending
        if not self.paused and self.pending >= limit:
            self.consumer.pause(self.consumer.assignment())
            self.paused = True
        elif self.paused and self.pending < limit // 2:
            self.consumer.resume(self.consumer.assignment())
            self.paused = False
        elif self.paused:
            self.consumer.pause(self.consumer.assignment())  # partitions assigned since

    async def _drain(self) -> None:
        grace = self.config.grace_s
        await asyncio.gather(*(lane.stop(grace) for lane in self.lanes.values()))
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while self.tokens and time.monotonic() < deadline:
            self.publisher.poll(0.05)
            await asyncio.sleep(0)
        self._commit(asynchronous=False)

    # -- messages in ---------------------------------------------------------------------------
    def _dispatch(self, m: Any) -> None:
        err = m.error()
        if err is not None:
            from confluent_kafka import KafkaError

            if err.code() == KafkaError._PARTITION_EOF:
                return
            if err.fatal():
                raise DeliveryError(f"consumer: {err.str()}")
            print(f"fastev workflow: consumer: {err.str()}", file=self.log, flush=True)
            return
        tp: TopicPartition = (m.topic(), m.partition())
        offset: int = m.offset()
        value: bytes = m.value() or b""
        ts_type, ts = m.timestamp()
        appended = ts / 1000.0 if ts_type and ts > 0 else time.time()
        gen = self.gen.get(tp, 0)
        if tp[0] == self.config.results_topic and tp[0] not in self.config.topics:
            pairs = self._chained(value)
        else:
            try:
                events = read_events(value)
            except MessageError as e:
                self._invalid(tp, offset, value, str(e))
                return
            pairs = []
            for event in events:
                for spec in self.roots:
                    if self.matchers[spec.name].matches(event):
                        pairs.append((spec.name, event, None))
        tasks = []
        event_json: dict[str, bytes] = {}
        for name, event, output in pairs:
            key = (event["id"], name)
            if key in self.seen:
                continue
            self._remember(key)
            ej = event_json.get(event["id"]) or event_json.setdefault(event["id"], orjson.dumps(event))
            task = Task(Job(name, event, ej, output), tp, offset, value, appended, gen)
            tasks.append(task)
        self.ledger.add(tp, offset, len(tasks))
        if tasks:
            self.live.setdefault(tp, set()).update(tasks)
            self.pending += len(tasks)
            for task in tasks:
                self.lanes[task.job.workflow].submit(task)

    def _chained(self, value: bytes) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
        """The downstream pairs of one result message (only ``succeeded`` results trigger anything)."""
        try:
            data = orjson.loads(value)["data"]
            upstream, status, event = data["workflow"], data["status"], data["event"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return []  # not one of our results: nothing downstream (results topics are fastev's own)
        if status != "succeeded" or not isinstance(event, dict) or event.keys() != _FIELDS:
            return []
        output = data.get("output")
        output = output if isinstance(output, dict) else {}
        return [(spec.name, event, output) for spec in self.children.get(upstream, ())
                if self.matchers[spec.name].matches(event)]

    def _remember(self, key: tuple[str, str]) -> None:
        self.seen[key] = None
        if len(self.seen) > SEEN_LIMIT:
            del self.seen[next(iter(self.seen))]

    def _invalid(self, tp: TopicPartition, offset: int, value: bytes, error: str) -> None:
        """A message that is not a StorageEvent: a dead letter (reason ``invalid``), never a stop."""
        self.stats.invalid_message()
        topic = self.config.dead_letter_topic
        print(f"fastev workflow: {tp[0]}[{tp[1]}] offset {offset}: {error}"
              + ("" if topic else " (no [workflows] dead_letter_topic: skipped)"), file=self.log, flush=True)
        if not topic:
            self.ledger.add(tp, offset, 0)
            return
        self.ledger.add(tp, offset, 1)
        self.pending += 1
        token = next(self._token)
        self.tokens[token] = (None, tp, offset, self.gen.get(tp, 0), None)
        self.publisher.send(topic, [value], keys=[None], headers_list=[invalid_message_headers(error, *tp, offset)],
                            token=token)
        self.publisher.seal(token)
        self._wake()

    # -- outcomes out --------------------------------------------------------------------------
    def finish(self, task: Task, outcome: Outcome) -> None:
        """A Lane's terminal outcome: publish it; the pair is finished when Kafka acknowledged it."""
        cfg = self.config
        path = task.job.event["path"]
        token = next(self._token)
        sends = []
        if cfg.results_topic:
            sends.append((cfg.results_topic, result_message(outcome), RESULT_HEADERS))
        if outcome.status == "dead":
            topic = self.specs[task.job.workflow].delivery.dead_letter_topic or cfg.dead_letter_topic
            if topic:
                sends.append((topic, task.message, dead_letter_headers(outcome)))
        if outcome.status == "dead":
            print(f"fastev workflow: {task.job.workflow}: {path!r} ({task.job.event['id']}) dead: "
                  f"{outcome.reason} after {outcome.attempts} attempt(s): {outcome.detail}", file=self.log, flush=True)
        self.tokens[token] = (task, task.tp, task.offset, task.gen, outcome)
        for topic, value, headers in sends:
            self.publisher.send(topic, [value], keys=[path], headers_list=[headers], token=token)
        self.publisher.seal(token)  # no sends: reported at once
        self._wake()

    def _on_delivery(self, token: Any, error: DeliveryError | None) -> None:
        entry = self.tokens.pop(token, None)
        if entry is None or error is not None:
            return  # a failed delivery is raised by the publisher's next poll: nothing is committed past it
        task, tp, offset, gen, outcome = entry
        self.pending -= 1
        if task is not None:
            self.live.get(tp, set()).discard(task)
            assert outcome is not None
            self.stats.outcome(task.job.workflow, outcome.status, outcome.reason, time.time() - task.appended_s)
        if self.gen.get(tp, 0) == gen:
            self.ledger.finish(tp, offset)

    def _wake(self) -> None:
        if self._kick is not None:
            self._kick.set()

    async def _serve_deliveries(self) -> None:
        assert self._kick is not None
        while True:
            self.publisher.poll(0)
            if len(self.publisher):
                await asyncio.sleep(0.002)
            else:
                self._kick.clear()
                try:
                    await asyncio.wait_for(self._kick.wait(), 0.5)
                except TimeoutError:
                    pass

    # -- offsets and partitions ----------------------------------------------------------------
    async def _commit_often(self) -> None:
        last_lag = 0.0
        while True:
            await asyncio.sleep(COMMIT_INTERVAL_S)
            self._commit(asynchronous=True)
            if time.monotonic() - last_lag > LAG_INTERVAL_S:
                last_lag = time.monotonic()
                self.stats.lag(self._lag())

    def _commit(self, asynchronous: bool) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka import TopicPartition as KTP

        positions = self.ledger.committable(set(self.assigned))
        if not positions:
            return
        try:
            self.consumer.commit(offsets=[KTP(t, p, o) for (t, p), o in positions.items()],
                                 asynchronous=asynchronous)
        except KafkaException as exc:  # lost to a rebalance: duplicates after a restart, never a loss
            print(f"fastev workflow: offset commit failed: {exc.args[0]}", file=self.log, flush=True)

    def _lag(self) -> dict[TopicPartition, int]:
        from confluent_kafka import TopicPartition as KTP

        out: dict[TopicPartition, int] = {}
        try:
            for tp in self.consumer.position([KTP(t, p) for t, p in self.assigned]):
                _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if high >= 0 and tp.offset >= 0:
                    out[(tp.topic, tp.partition)] = max(0, high - tp.offset)
        except Exception:  # noqa: BLE001 - lag is best effort
            pass
        return out

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self.assigned.update((p.topic, p.partition) for p in partitions)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Consumer thread: commit what is finished of the revoked partitions, then let them go."""
        from confluent_kafka import KafkaException
        from confluent_kafka import TopicPartition as KTP

        tps = {(p.topic, p.partition) for p in partitions}
        positions = self.ledger.committable(tps, changed=False)
        if positions:
            try:
                consumer.commit(offsets=[KTP(t, p, o) for (t, p), o in positions.items()], asynchronous=False)
            except KafkaException:
                pass  # the new owner replays from the last commit
        self.ledger.forget(tps)
        self.assigned.difference_update(tps)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._revoked, tps)
        else:  # the loop has ended (consumer.close() revokes): nothing runs any more
            self._revoked(tps)

    def _revoked(self, tps: set[TopicPartition]) -> None:
        """Loop thread: the revoked partitions' pairs are the new owner's; forget them here."""
        for tp in tps:
            self.gen[tp] = self.gen.get(tp, 0) + 1
            for task in self.live.pop(tp, set()):
                self.seen.pop((task.job.event["id"], task.job.workflow), None)

    def _owned(self, task: Task) -> bool:
        return task.tp in self.assigned and self.gen.get(task.tp, 0) == task.gen

    def _drop(self, task: Task) -> None:
        """A task that will not run here (revoked partition, shutdown): not finished, so not committed."""
        self.pending -= 1
        self.live.get(task.tp, set()).discard(task)
        self.seen.pop((task.job.event["id"], task.job.workflow), None)

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None
        self.stats.close()


def runner_summary_line(summary: dict[str, Any]) -> str:
    parts = [f"{w}: {c['succeeded']} succeeded, {c['dead']} dead" for w, c in summary["workflows"].items()]
    return "; ".join(parts)

