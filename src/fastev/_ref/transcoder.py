"""Reference Transcoder: raw records -> decode -> route -> Avro, per route.

This is the contract the native hot path (fastev._core.codec.Transcoder)
implements in one pass without per-record Python objects. An event is
Avro-encoded once and the same bytes go to every route that takes it.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..avro_format import ocf_runs
from ..batch import Batch, DecodeStats
from ..options import FRAMINGS, MAX_SCHEMA_ID, check_transcoder_options  # noqa: F401 - re-exported
from ..routes import CompiledRoute
from .avro import confluent_frame, encode_event
from .decoder import Decoder, reentry_guard


class RouteBatch:
    """Per-route output of one feed: encoded payloads, event ids and paths, plus errors and counters."""

    __slots__ = ("routes", "_payloads", "_ids", "_paths", "errors", "stats")

    def __init__(self, routes: Sequence[str]) -> None:
        self.routes: tuple[str, ...] = tuple(routes)
        self._payloads: dict[str, list[bytes]] = {r: [] for r in self.routes}
        self._ids: dict[str, list[str]] = {r: [] for r in self.routes}
        self._paths: dict[str, list[str]] = {r: [] for r in self.routes}
        self.errors: list[Any] = []
        self.stats = DecodeStats()

    def count(self, route: str) -> int:
        return len(self._payloads[route])

    def payloads(self, route: str) -> list[bytes]:
        """One Avro-encoded event (framed as configured) per message."""
        return list(self._payloads[route])

    def block(self, route: str) -> bytes:
        """The route's payloads concatenated: an OCF data block's content (framing 'avro')."""
        return b"".join(self._payloads[route])

    def blocks(self, route: str, max_events: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """The route's payloads cut into (count, concatenated bytes) runs within both limits
        (each run holds at least one payload): OCF data blocks for messages of bounded size."""
        return ocf_runs(self._payloads[route], max_events, max_bytes)

    def ids(self, route: str) -> list[str]:
        return list(self._ids[route])

    def paths(self, route: str) -> list[str]:
        return list(self._paths[route])

    def add(self, route: str, payload: bytes, event_id: str, path: str) -> None:
        self._payloads[route].append(payload)
        self._ids[route].append(event_id)
        self._paths[route].append(path)


class Transcoder:
    """Feed raw batches; get per-route Avro payloads and the rejected records."""

    def __init__(self, source: str, routes: Sequence[CompiledRoute], *, framing: str = "avro",
                 schema_id: int = 0, **decoder_options: Any) -> None:
        check_transcoder_options(routes, framing, schema_id)
        self.routes = tuple(routes)
        self.framing = framing
        self.schema_id = schema_id
        self.decoder = Decoder(source, **decoder_options)
        self._busy = False

    def feed(self, data: bytes, final: bool = False) -> RouteBatch:
        with reentry_guard(self, "Transcoder"):
            return self._route(self.decoder.feed(data, final))

    def feed_records(self, records: Iterable[bytes], offsets: Iterable[int] | None = None) -> RouteBatch:
        with reentry_guard(self, "Transcoder"):
            return self._route(self.decoder.feed_records(records, offsets))

    def finish(self) -> RouteBatch:
        return self.feed(b"", final=True)

    def _route(self, batch: Batch) -> RouteBatch:
        out = RouteBatch([r.name for r in self.routes])
        out.errors = batch.errors
        out.stats = batch.stats
        for ev in batch.events:
            payload: bytes | None = None
            for route in self.routes:
                if not route.takes(ev["path"], ev["kind"], ev["source"]):
                    continue
                if payload is None:
                    payload = encode_event(ev)
                    if self.framing == "confluent":
                        payload = confluent_frame(self.schema_id, payload)
                out.add(route.name, payload, ev["id"], ev["path"])
        return out

