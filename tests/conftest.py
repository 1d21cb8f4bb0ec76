"""Shared fixtures. `make test` runs the whole suite twice: native, then FASTEV_NO_EXTENSIONS=1."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_candidates = [Path(os.environ["FASTEV_SAMPLES"])] if os.environ.get("FASTEV_SAMPLES") else []
_candidates += [REPO.parent / "shared" / "samples", REPO / "tests" / "data" / "samples"]
SAMPLES = next((p for p in _candidates if (p / "dcache-billing.jsonl").exists()), _candidates[-1])
NATIVE_EXPECTED = os.environ.get("FASTEV_NO_EXTENSIONS", "") in ("", "0")


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def watches(samples: Path) -> dict[str, str]:
    return json.loads((samples / "dcache-inotify.watches.json").read_text())
