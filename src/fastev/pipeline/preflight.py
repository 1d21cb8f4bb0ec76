"""Checks of a loaded ``fastev run`` config that need the machine: done before anything connects.

``parse_config`` validates the file itself (keys, values, the ACL it names); this
module checks what the config points at on this host (the source files exist and
are readable, the listen ports are free) and warns about topic layouts that
``fastev acl kafka-bindings`` refuses because readers of a topic could see
events meant for others.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from .config import PipelineConfig

__all__ = ("check_before_connecting", "binding_warnings")


def check_before_connecting(config: PipelineConfig) -> list[str]:
    """Raise ConfigError for a missing input or a busy port; return the warnings to print at start."""
    from .sources import expand_paths

    for source in config.sources:
        if source.type != "file":
            continue
        for p in expand_paths(source):
            if not p.is_file():
                raise ConfigError(f"source {source.name!r}: paths: {p} is not a regular file")
            if not os.access(p, os.R_OK):
                raise ConfigError(f"source {source.name!r}: paths: {p} is not readable")
    listens = [("metrics.listen", config.metrics_listen)]
    if config.sse is not None:
        listens.append(("sse.listen", (config.sse.host, config.sse.port)))
    for key, address in listens:
        if address is not None and address[1] != 0:
            check_listen(key, address)
    return binding_warnings(config)


def check_listen(key: str, address: tuple[str, int]) -> None:
    """ConfigError when ``address`` cannot be listened on (busy port, unknown host): found before connecting."""
    host, port = address
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise ConfigError(f"{key}: {host}:{port}: {e.strerror or e}") from None
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is free
        try:
            s.bind(sockaddr)
        except OSError as e:
            raise ConfigError(f"{key}: cannot listen on {host}:{port}: {e.strerror}") from None


@dataclass(frozen=True, slots=True)
class _Route:
    name: str
    topic: str
    principals: Sequence[str]


def binding_warnings(config: PipelineConfig) -> list[str]:
    """The reason ``fastev acl kafka-bindings`` would refuse this topic layout, if it would (same check)."""
    from ..kafka.bindings import route_bindings

    principals = {spec.name: spec.principals for spec in config.routes.routes}
    routes = [_Route(t.name, t.topic, principals[t.name]) for t in config.targets]
    source_topics = [topic for s in config.sources for topic in s.topics]
    try:
        route_bindings(routes, config.dead_letter_topic, (), source_topics)
    except ConfigError as e:
        return [f"{e} (`fastev acl kafka-bindings` refuses this layout: no Kafka ACL can keep such a "
                "topic's readers to their own events)"]
    return []
