"""The package's shape, checked on the source (``ast`` for Python, import lines for Cython).

- ``fastev._ref`` is the oracle only: production code does not import it, except
  the facades choosing the implementation; deleting ``_ref`` breaks only the
  reference pass (checked for real on a copy of the package).
- Modules stay small enough to read in one sitting.
- Imports point down the layers of docs/design.md, never up.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "fastev"
NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")

# The facades pick native or reference once, at import: the only production importers of _ref.
REFERENCE_SWITCHES = frozenset({"fastev.acl", "fastev.avro", "fastev.decoding", "fastev.transcode",
                                "fastev.kafka.cloudevents"})
# Benchmarks that time the reference next to the native core (inside the function that runs, so
# the package still imports and works without _ref; only that benchmark needs it).
REFERENCE_PEERS = frozenset({"fastev.bench.codec_adversarial"})

MAX_LINES = 500
# The native JSON scanner: one table-driven state machine, long by nature (the decoders are one .pxi each).
NATIVE_DECODERS = frozenset({"fastev/_core/json_scan.pxi"})
# Known offenders (none left: the native modules are split into included parts); the test also fails
# when an entry is no longer needed, so the list only shrinks.
TOO_LONG_ALLOWED: frozenset[str] = frozenset()

# Layers, lowest first (docs/design.md, "Layers"); a module may import its own layer and those below.
# ``fastev`` itself sits at the bottom: every import of a submodule runs it, and it re-exports the API lazily.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("fastev", "fastev._version", "fastev._native", "fastev.errors", "fastev.event", "fastev.paths", "fastev.acl_rules",
     "fastev.inotify", "fastev.framing", "fastev.batch", "fastev.options", "fastev.aio", "fastev.avro_format",
     "fastev.routes", "fastev.schema", "fastev.source_trust"),
    ("fastev._core", "fastev._ref"),
    ("fastev.acl", "fastev.avro", "fastev.decoding", "fastev.transcode"),
    ("fastev.kafka", "fastev.sse"),
    ("fastev.pipeline", "fastev.workflow"),
    ("fastev.bench", "fastev.demo"),
    ("fastev.commands", "fastev.cli", "fastev.__main__"),
)
# Known upward imports (none left: kafka.bindings -> pipeline.config is gone); the list only shrinks.
UPWARD_ALLOWED: frozenset[tuple[str, str]] = frozenset()

_CYTHON_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import\s+\(?([\w\s,]+)|c?import\s+([\w.]+))", re.M)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _source_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".pyx", ".pxd", ".pxi", ".pyi")
                  and "__pycache__" not in p.parts)


def _is_module(name: str) -> bool:
    where = SRC / name.replace(".", "/")
    return where.is_dir() or any(where.with_suffix(s).exists() for s in (".py", ".pyx", ".pxd"))


def _cython_imports(text: str) -> set[str]:
    found: set[str] = set()
    for target, names, plain in _CYTHON_IMPORT.findall(text):
        if plain:
            found.add(plain)
            continue
        found.add(target)  # ``from fastev import acl_rules`` imports the submodule fastev.acl_rules
        for name in names.replace("\n", " ").split(","):
            word = name.split()[0] if name.split() else ""
            if word and _is_module(f"{target}.{word}"):
                found.add(f"{target}.{word}")
    return found


def _imports(path: Path) -> set[str]:
    """Absolute fastev module names imported anywhere in the file (functions included)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return {m for m in _cython_imports(text) if m == "fastev" or m.startswith("fastev.")}
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # ``from fastev import acl`` imports the submodule fastev.acl
            found.update(f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}"))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "load") and node.args and isinstance(node.args[-1], ast.Constant):
            value = node.args[-1].value  # importlib.import_module("fastev...") / _native.load(..., "fastev...")
            if isinstance(value, str) and value.startswith("fastev"):
                found.add(value)
    return {m for m in found if m == "fastev" or m.startswith("fastev.")}


def _layer(module: str) -> int:
    best, best_len = -1, -1
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            covers = module == prefix or (prefix != "fastev" and module.startswith(prefix + "."))
            if covers and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    return best


def _is_ref(module: str) -> bool:
    return module == "fastev._ref" or module.startswith("fastev._ref.")


def test_production_code_does_not_import_the_reference() -> None:
    offenders = sorted(
        f"{_module_name(p)} imports {m}" for p in _source_files() if not _is_ref(_module_name(p))
        for m in _imports(p) if _is_ref(m) and _module_name(p) not in REFERENCE_SWITCHES | REFERENCE_PEERS
    )
    assert offenders == []


def test_every_module_belongs_to_a_layer() -> None:
    assert sorted(_module_name(p) for p in _source_files() if _layer(_module_name(p)) < 0) == []


def test_imports_never_point_up_the_layers() -> None:
    upward = set()
    for p in _source_files():
        module = _module_name(p)
        for target in _imports(p):
            if _is_ref(target) and module in REFERENCE_SWITCHES | REFERENCE_PEERS:
                continue  # the facades' reference switch, a benchmark's reference peer
            if _layer(target) > _layer(module):
                upward.add((module, target))
    assert sorted(upward - UPWARD_ALLOWED) == []
    assert sorted(UPWARD_ALLOWED - upward) == [], "fixed: remove it from UPWARD_ALLOWED"


def test_no_module_is_too_long_to_read_in_one_sitting() -> None:
    lengths = {str(p.relative_to(SRC)): len(p.read_text(encoding="utf-8").splitlines()) for p in _source_files()}
    too_long = {name for name, n in lengths.items() if n > MAX_LINES and name not in NATIVE_DECODERS}
    assert sorted(too_long - TOO_LONG_ALLOWED) == []
    assert sorted(TOO_LONG_ALLOWED - too_long) == [], "split: remove it from TOO_LONG_ALLOWED"


_WITHOUT_REF = """
import importlib, pkgutil, sys
import fastev
for info in pkgutil.walk_packages(fastev.__path__, "fastev."):
    if not info.name.endswith("__main__"):  # that one runs the CLI
        importlib.import_module(info.name)
assert "fastev._ref" not in sys.modules, sorted(m for m in sys.modules if m.startswith("fastev._ref"))
from fastev import Acl, RouteSpec, Transcoder, decode
from fastev.avro import encode_event
events, errors = decode(open(sys.argv[1], "rb").read(), "dcache-billing")
assert events and not errors
encode_event(events[0].to_dict())
tc = Transcoder("dcache-billing", [RouteSpec("all")])
assert tc.feed(open(sys.argv[1], "rb").read(), final=True).count("all") == len(events)
assert "fastev._ref" not in sys.modules
print("ok", len(events))
"""


@pytest.mark.skipif(NO_EXTENSIONS, reason="without the native core the reference is the implementation")
def test_the_package_runs_without_the_reference(tmp_path: Path) -> None:
    """Deleting fastev/_ref breaks only the reference pass: every production module imports, decodes, routes."""
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "fastev", ignore=shutil.ignore_patterns("_ref", "__pycache__", "*.c"))
    sample = Path(__file__).resolve().parent / "data" / "samples" / "dcache-billing.jsonl"
    env = {**os.environ, "PYTHONPATH": str(copy)}
    env.pop("FASTEV_NO_EXTENSIONS", None)
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_REF, str(sample)], env=env, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok ")
