"""``fastev run`` with ``[sse]``: the in-process SSE server and its hub (fastev.sse), started and stopped.

Every stream gets a ``Decoder`` beside its transcoders and each decoded event
dict is published to the hub, in-process, on the event loop (the native
Transcoder does not hand its event dicts out, and decoding the route payloads
back would cost an Avro decode per event and miss events no route takes; the
second decode is the price, paid only with ``[sse]``). The SSE server's
authorisation sees every event, not the routes' subsets. Event ids are opaque
positions in this process's publish sequence: valid while it runs; after a
restart an old id gets EVENT_LOSS and the new window (the old events are gone
with the process; ``fastev serve`` derives restart-proof ids from Kafka offsets).
The process keeps serving after file/stdin sources end, until SIGTERM/SIGINT.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError
from .config import PipelineConfig

__all__ = ("SseServing",)


class SseServing:
    """The hub and the HTTP app built from ``[sse]`` (ACL from ``[acl]``); ``start``/``stop`` serve it."""

    def __init__(self, config: PipelineConfig) -> None:
        from ..sse.config import build

        assert config.sse is not None
        self.config = config.sse
        acl = None
        if config.routes.acl_file is not None:
            from ..acl import Acl

            acl = Acl.from_toml(config.routes.acl_file)
        try:
            self.hub, self.app = build(config.sse, acl, config.path.parent)
        except (ValueError, OSError) as e:
            raise ConfigError(f"sse: {e}") from None
        self.address: tuple[str, int] | None = None
        self._runner: Any = None
        self._event_id = 0

    async def start(self) -> None:
        if self._runner is not None:
            return
        from ..sse.server import start

        sse = self.config
        try:
            self._runner, port = await start(self.app, sse.host, sse.port)
        except OSError as e:
            raise ConfigError(f"sse.listen: cannot listen on {sse.host}:{sse.port}: {e.strerror}") from None
        self.address = (sse.host, port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def publish(self, events: Iterable[dict[str, Any]]) -> None:
        hub = self.hub
        for ev in events:
            try:
                hub.publish(ev, self._event_id)
            except ValueError:
                continue  # no kind/path an SSE client could be authorised for: never served
            self._event_id += 1
