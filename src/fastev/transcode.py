"""The hot path facade: raw batches in, per-route Avro payloads and rejected records out.

``Transcoder(source, routes, acl)`` compiles the routes (ACL views and plain
filters) with the same implementation the codec uses, native or reference.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .decoding import IMPLEMENTATION
from .errors import ConfigError
from .routes import CompiledRoute, RoutesConfig, RouteSpec, load_routes

if TYPE_CHECKING:
    from .acl import Acl

__all__ = ("Transcoder", "compile_routes")


def _impl() -> ModuleType:
    if IMPLEMENTATION == "native":
        from ._core import codec

        native: ModuleType = codec
        return native
    from ._ref import transcoder  # the facade's reference switch

    reference: ModuleType = transcoder
    return reference


def compile_routes(routes: Sequence[RouteSpec], acl: Acl | None) -> list[CompiledRoute]:
    compiled: list[CompiledRoute] = []
    if not any(spec.filters or spec.principals for spec in routes):
        return [CompiledRoute(spec.name, None, ()) for spec in routes]
    from . import acl as _acl  # only routes that filter need the ACL layer
    for spec in routes:
        filt = _acl.PrefixFilter(spec.paths, spec.kinds, spec.sources) if spec.filters else None
        views = []
        if spec.principals:
            if acl is None:
                raise ConfigError(f"route {spec.name!r}: principals need an ACL")
            # One view per principal: the route takes only what every listed reader may see.
            views = [acl.view(_acl.identity_from_principals([p])) for p in spec.principals]
        compiled.append(CompiledRoute(spec.name, filt, views))
    return compiled


class Transcoder:
    """``feed(batch)``: a list of records (e.g. Kafka values) or a bytes chunk of a stream."""

    def __init__(self, source: str, routes: Sequence[RouteSpec] | RoutesConfig,
                 acl: Acl | None = None, *, framing: str = "avro", schema_id: int = 0,
                 **decoder_options: Any) -> None:
        if isinstance(routes, RoutesConfig):
            if acl is None and routes.acl_file is not None:
                from .acl import Acl

                acl = Acl.from_toml(routes.acl_file)
            routes = routes.routes
        self.route_names = tuple(r.name for r in routes)
        self._impl = _impl().Transcoder(source, compile_routes(routes, acl), framing=framing,
                                        schema_id=schema_id, **decoder_options)

    @classmethod
    def from_config(cls, path: str | Path, source: str, **options: Any) -> Transcoder:
        return cls(source, load_routes(path), **options)

    def feed(self, batch: bytes | Iterable[bytes], final: bool = False) -> Any:
        if isinstance(batch, (bytes, bytearray, memoryview)):
            return self._impl.feed(bytes(batch), final)
        return self._impl.feed_records(list(batch))

    def feed_records(self, records: Iterable[bytes], offsets: Iterable[int] | None = None) -> Any:
        return self._impl.feed_records(records, offsets)

    def finish(self) -> Any:
        return self._impl.finish()
