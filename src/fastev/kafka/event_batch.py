"""Events already decoded (``fastev.decode()``'s StorageEvents, or dicts of their fields) as a
route batch: what ``EventProducer.produce_events`` hands to ``RouteSender``.

It answers the questions ``RouteSender`` asks a Transcoder's RouteBatch (``count``, ``payloads``,
``paths``, ``ids``, ``blocks``), so such events become exactly the messages their raw records
would: the same routing (``CompiledRoute.takes``), Avro encoding, Confluent framing, keys and
CloudEvents headers.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..avro import confluent_frame, encode_event
from ..avro_format import ocf_runs
from ..event import StorageEvent, event_fields
from ..routes import CompiledRoute

__all__ = ("EventBatch",)


class EventBatch:
    """Every event encoded once, then listed under each route that takes it.

    ``confluent``: the names of routes whose payloads carry the Confluent framing with
    ``schema_id``. A value that is not an event raises TypeError/ValueError naming its index,
    before anything is listed (all or nothing).
    """

    __slots__ = ("routes", "_payloads", "_ids", "_paths")

    def __init__(self, events: Iterable[StorageEvent | Mapping[str, Any]], routes: Sequence[CompiledRoute],
                 confluent: Iterable[str] = (), schema_id: int = 0) -> None:
        encoded: list[tuple[bytes, Mapping[str, Any]]] = []
        for i, ev in enumerate(events):
            try:
                fields = event_fields(ev)
                encoded.append((encode_event(fields), fields))
            except (TypeError, ValueError) as e:
                raise type(e)(f"events[{i}]: {e}") from None
        framed = frozenset(confluent)
        self.routes = tuple(r.name for r in routes)
        self._payloads: dict[str, list[bytes]] = {r: [] for r in self.routes}
        self._ids: dict[str, list[str]] = {r: [] for r in self.routes}
        self._paths: dict[str, list[str]] = {r: [] for r in self.routes}
        for payload, fields in encoded:
            path, kind, source = fields["path"], fields["kind"], fields["source"]
            for route in routes:
                if route.takes(path, kind, source):
                    self._payloads[route.name].append(confluent_frame(schema_id, payload)
                                                      if route.name in framed else payload)
                    self._ids[route.name].append(fields["id"])
                    self._paths[route.name].append(path)

    def count(self, route: str) -> int:
        return len(self._payloads[route])

    def payloads(self, route: str) -> list[bytes]:
        return list(self._payloads[route])

    def ids(self, route: str) -> list[str]:
        return list(self._ids[route])

    def paths(self, route: str) -> list[str]:
        return list(self._paths[route])

    def blocks(self, route: str, max_events: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """The route's payloads cut into (count, concatenated bytes) runs within both limits
        (each run holds at least one payload): OCF data blocks for messages of bounded size."""
        return ocf_runs(self._payloads[route], max_events, max_bytes)
