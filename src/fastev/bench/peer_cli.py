"""The plain bridge script fastev replaces: JSON lines -> json.loads -> dict -> fastavro OCF on stdout.

``python -m fastev.bench.peer_cli FILE [SOURCE]``; the peer side of ``fastev bench codec``'s CLI row.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import fastavro

from .peers import PARSED_SCHEMA, mapper


def main(argv: list[str]) -> int:
    path = argv[0]
    mapping = mapper(argv[1] if len(argv) > 1 else "dcache-billing")

    def events() -> Iterator[dict[str, Any]]:
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    try:
                        yield from mapping(json.loads(line), line)
                    except (KeyError, TypeError, ValueError):
                        continue

    fastavro.writer(sys.stdout.buffer, PARSED_SCHEMA, events())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
