"""Decoding facade: picks the native codec or the pure-Python reference once, at import.

FASTEV_NO_EXTENSIONS=1 forces the reference; both give identical output,
errors included (the differential tests hold them to it).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._native import load
from ._ref import decoder as _ref_decoder
from .batch import Batch, DecodeStats
from .errors import DecodeError
from .event import StorageEvent
from .options import SOURCE_NAMES

__all__ = ("Decoder", "DecodeResult", "decode", "SOURCE_NAMES", "IMPLEMENTATION", "Batch", "DecodeStats")


_impl, IMPLEMENTATION = load("codec", _ref_decoder)

# Decoder(source, *, inotify_watches=None, max_record_bytes=1 MiB, pairing_window=128, now_us=None)
# .feed(bytes, final=False) / .feed_records(list[bytes]) / .finish() -> Batch(events, errors, stats)
Decoder: Any = _impl.Decoder


class DecodeResult:
    """Events (StorageEvent), rejected records (DecodeError) and counters; unpacks as (events, errors)."""

    __slots__ = ("events", "errors", "stats")

    def __init__(self, events: list[StorageEvent], errors: list[DecodeError], stats: DecodeStats) -> None:
        self.events = events
        self.errors = errors
        self.stats = stats

    def __iter__(self) -> Iterator[Any]:
        yield self.events
        yield self.errors


def decode(data: bytes | str, source: str = "auto", *, inotify_watches: dict[str, str] | None = None,
           **options: Any) -> DecodeResult:
    """Decode a whole input (JSON lines, or SSE text for dcache-inotify) in one call."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    dec = Decoder(source, inotify_watches=inotify_watches, **options)
    first: Batch = dec.feed(data)
    last: Batch = dec.finish()
    stats = DecodeStats()
    stats.add(first.stats)
    stats.add(last.stats)
    events = [StorageEvent.from_dict(d) for d in first.events + last.events]
    return DecodeResult(events, list(first.errors) + list(last.errors), stats)
