"""Embedded demo data: a sample of every input kind, an ACL and routes (``fastev demo``)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLES = (
    ("dcache-billing", "dcache-billing.jsonl"),
    ("dcache-inotify", "dcache-inotify.sse"),
    ("gpfs-audit", "gpfs-audit.jsonl"),
    ("gpfs-watch", "gpfs-watch.jsonl"),
    ("s3", "s3.jsonl"),
)


def demo_dir() -> Path:
    return Path(str(resources.files("fastev.demo")))
