"""Shared fixtures. `make test` runs the whole suite twice: native, then FASTEV_NO_EXTENSIONS=1."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The repository's own samples (docs/formats.md shapes); FASTEV_SAMPLES points elsewhere on purpose only.
SAMPLES = Path(os.environ.get("FASTEV_SAMPLES") or REPO / "tests" / "data" / "samples")
NATIVE_EXPECTED = os.environ.get("FASTEV_NO_EXTENSIONS", "") in ("", "0")


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def watches(samples: Path) -> dict[str, str]:
    return json.loads((samples / "dcache-inotify.watches.json").read_text())
