"""The demo workflows' command action (``fastev/demo/workflows.toml``): a stand-in for site software.

``python -m fastev.demo.manifest append MANIFEST PATH SIZE``
    reads the event (one JSON line on stdin, as every command action gets it), appends one tab-separated
    line ``id kind size path`` to MANIFEST and prints ``{"line": N}`` (N = its line number): the JSON
    object the engine keeps as the outcome's ``output``.
``python -m fastev.demo.manifest announce LINE PATH``
    the chained step: prints ``{"announced": "..."}`` naming the manifest line the upstream step wrote.

Several actions run at once, so appending and counting happen under an exclusive lock on the manifest.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys

__all__ = ("append", "announce", "main")


def _field(text: str) -> str:
    """One TSV field: a tab or newline in a path must not split the line."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def append(manifest: str, path: str, size: str, event: dict[str, object]) -> dict[str, object]:
    line = "\t".join(_field(str(v)) for v in (event["id"], event["kind"], size, path)) + "\n"
    fd = os.open(manifest, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), "rb") as existing:
            number = existing.read().count(b"\n") + 1
        os.write(fd, line.encode())
    finally:
        os.close(fd)  # releases the lock
    return {"line": number}


def announce(line: str, path: str) -> dict[str, object]:
    return {"announced": f"{path.rsplit('/', 1)[-1]} is manifest line {line}"}


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "append":
        result = append(argv[1], argv[2], argv[3], json.loads(sys.stdin.readline()))
    elif len(argv) == 3 and argv[0] == "announce":
        result = announce(argv[1], argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 64  # EX_USAGE: a permanent failure, not retried as a temporary one
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
