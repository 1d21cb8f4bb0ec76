"""Reference Transcoder: raw records -> decode -> route -> Avro, per route.

This is the contract the native hot path (fastev._core.codec.Transcoder)
implements in one pass without per-record Python objects. An event is
Avro-encoded once and the same bytes go to every route that takes it.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..options import FRAMINGS, MAX_SCHEMA_ID, check_transcoder_options  # noqa: F401 - re-exported
from .avro import confluent_frame, encode_event
from .decoder import Batch, Decoder, DecodeStats


class CompiledRoute:
    """One route: a plain filter (or None) and identity views that must all allow the event."""

    __slots__ = ("name", "filter", "views")

    def __init__(self, name: str, filter: Any | None, views: Sequence[Any]) -> None:
        self.name = name
        self.filter = filter
        self.views = tuple(views)

    def takes(self, path: str, kind: str) -> bool:
        if self.filter is not None and not self.filter.matches(path, kind):
            return False
        return all(view.allows(path, kind) for view in self.views)


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
        if max_events < 1:
            raise ValueError("max_events: must be positive")
        runs: list[tuple[int, bytes]] = []
        run: list[bytes] = []
        size = 0
        for p in self._payloads[route]:
            if run and (len(run) >= max_events or size + len(p) > max_bytes):
                runs.append((len(run), b"".join(run)))
                run, size = [], 0
            run.append(p)
            size += len(p)
        if run:
            runs.append((len(run), b"".join(run)))
        return runs

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

    def feed(self, data: bytes, final: bool = False) -> RouteBatch:
        return self._route(self.decoder.feed(data, final))

    def feed_records(self, records: Iterable[bytes], offsets: Iterable[int] | None = None) -> RouteBatch:
        return self._route(self.decoder.feed_records(records, offsets))

    def finish(self) -> RouteBatch:
        return self._route(self.decoder.finish())

    def _route(self, batch: Batch) -> RouteBatch:
        out = RouteBatch([r.name for r in self.routes])
        out.errors = batch.errors
        out.stats = batch.stats
        for ev in batch.events:
            payload: bytes | None = None
            for route in self.routes:
                if not route.takes(ev["path"], ev["kind"]):
                    continue
                if payload is None:
                    payload = encode_event(ev)
                    if self.framing == "confluent":
                        payload = confluent_frame(self.schema_id, payload)
                out.add(route.name, payload, ev["id"], ev["path"])
        return out

