"""Workflow tests: a real broker (the Kafka tests' Tansu), real processes, real HTTP receivers."""
from __future__ import annotations

from ..kafka.conftest import broker, consume, new_topic  # noqa: F401 - the shared real-broker fixtures
