"""Canonical absolute paths (docs/formats.md §2). Security relevant: keep it strict."""
from __future__ import annotations


def canonical_path(path: str) -> str | None:
    """Return the canonical form of ``path``, or None if it may not be canonicalised.

    Runs of ``/`` collapse and a trailing ``/`` is dropped; a relative path, a
    ``.`` or ``..`` component or a NUL is refused rather than resolved, so no
    rewriting can move an event under a prefix it was not written to. No
    Unicode normalisation or case folding: bytes are compared as they are.
    """
    if not path.startswith("/") or "\x00" in path:
        return None
    parts = [p for p in path.split("/") if p]
    for p in parts:
        if p == "." or p == "..":
            return None
    return "/" + "/".join(parts)


def path_components(canonical: str) -> list[str]:
    """Components of a canonical path; ``/`` has none."""
    return [p for p in canonical.split("/") if p]


def covers(prefix: str, path: str) -> bool:
    """Component-wise prefix test on canonical paths: /a covers /a and /a/x, not /ab."""
    if prefix == "/":
        return path.startswith("/")
    return path == prefix or path.startswith(prefix + "/")
