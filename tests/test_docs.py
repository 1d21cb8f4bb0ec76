"""The repository carries its own specification: every citation resolves inside the clone."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CITED_TREES = ("src", "tests", "README.md", "Makefile", "benchmarks")
_SUFFIXES = {".py", ".pyx", ".pxd", ".pxi", ".pyi", ".md", ".avsc", ".toml", ""}
# Documents outside the repository that earlier comments cited; a clone does not have them.
_FOREIGN = re.compile(r"shared/|(?<![\w/])FORMATS(\.md)? ?§|(?<![\w/])FORMATS\.md|(?<![\w/])DESIGN\.md")
_CITATION = re.compile(r"docs/formats\.md §(\d+(?:\.\d+)?)")


def _tracked(name: str) -> list[Path]:
    """The repository's own files under ``name`` (build outputs such as src/fastev.egg-info are not ours)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", name], cwd=REPO, capture_output=True,
                                check=True).stdout.decode().split("\0")
        return [REPO / f for f in listed if f and (REPO / f).is_file()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist): everything but builds
        root = REPO / name
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        return [p for p in files if not any(part.endswith(".egg-info") or part == "build" for part in p.parts)]


def _texts() -> list[tuple[Path, str]]:
    out = []
    for name in CITED_TREES:
        for p in _tracked(name):
            if p.suffix in _SUFFIXES and "__pycache__" not in p.parts and p != Path(__file__):
                out.append((p, p.read_text(encoding="utf-8", errors="replace")))
    return out


def _sections() -> set[str]:
    text = (REPO / "docs" / "formats.md").read_text(encoding="utf-8")
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, re.M))


def test_no_citation_of_documents_outside_the_repository() -> None:
    hits = [f"{p.relative_to(REPO)}:{n}: {line.strip()}"
            for p, text in _texts() for n, line in enumerate(text.splitlines(), 1)
            if _FOREIGN.search(line)]
    assert hits == []


def test_every_cited_section_exists() -> None:
    sections = _sections()
    assert {"1", "2", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "4", "5", "6"} <= sections
    cited = {(m.group(1), str(p.relative_to(REPO))) for p, text in _texts() for m in _CITATION.finditer(text)}
    assert len(cited) > 20  # the code does cite the document
    assert sorted(c for c in cited if c[0] not in sections) == []


def test_reason_codes_are_all_documented() -> None:
    from fastev.errors import REASONS

    text = (REPO / "docs" / "formats.md").read_text(encoding="utf-8")
    assert [r for r in REASONS if f"| `{r}` |" not in text] == []


def test_samples_come_from_the_repository() -> None:
    from .conftest import SAMPLES

    assert SAMPLES.resolve().is_relative_to(REPO) or "FASTEV_SAMPLES" in __import__("os").environ
    assert (REPO / "tests" / "data" / "samples" / "dcache-billing.jsonl").exists()
