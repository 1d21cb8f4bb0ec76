"""Hypothesis health checks flag broken strategies: no test may switch them all off."""
from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_suppresses_every_health_check() -> None:
    blanket = re.compile(r"suppress_health_check\s*=\s*"
                         r"(list\(HealthCheck\)|HealthCheck\.all\(\)|\[\s*\*\s*HealthCheck)")
    offenders = [f"{p.relative_to(TESTS)}:{n}" for p in TESTS.rglob("*.py") if p != Path(__file__)
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if blanket.search(line)]
    assert offenders == []
