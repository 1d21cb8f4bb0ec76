"""What a ``fastev run`` did: per-source counts, deliveries per route, and the summary it prints."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any

from .config import PipelineConfig

__all__ = ("SourceStats", "RunResult", "print_summary")


@dataclass(slots=True)
class SourceStats:
    read_bytes: int = 0
    records: int = 0
    decoded: int = 0
    rejected: int = 0
    skipped: int = 0
    loss: int = 0
    inputs: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(slots=True)
class RunResult:
    status: int
    sources: dict[str, SourceStats] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)     # events delivered per route
    dead_letters: int = 0
    error: str | None = None
    interrupted: bool = False
    seconds: float = 0.0
    temporary_broker: bool = False  # delivered to the embedded broker: gone with the process

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error, "interrupted": self.interrupted,
                "temporary_broker": self.temporary_broker,
                "seconds": round(self.seconds, 3), "dead_letters": self.dead_letters, "routes": self.routes,
                "sources": {k: v.as_dict() for k, v in self.sources.items()}}


def print_summary(result: RunResult, config: PipelineConfig, out: IO[str]) -> None:
    state = "failed" if result.status else ("stopped" if result.interrupted else "done")
    print(f"fastev run: {state} in {result.seconds:.2f} s", file=out)
    for name, s in result.sources.items():
        print(f"  source {name}: read {s.read_bytes} B, {s.records} records; decoded {s.decoded}, "
              f"rejected {s.rejected}, skipped {s.skipped}, loss {s.loss}", file=out)
    topics = {t.name: t.topic for t in config.targets}
    for route, n in result.routes.items():
        print(f"  route {route} -> {topics[route]}: delivered {n} events", file=out)
    if config.dead_letter_topic:
        print(f"  dead letters -> {config.dead_letter_topic}: delivered {result.dead_letters}", file=out)
    if result.temporary_broker:
        print("  note: delivered to a temporary broker (embedded, memory storage): the data is gone with this "
              "process, and no position was saved (a run against a real broker starts from the beginning)",
              file=out)
    out.flush()
