"""Writing a benchmark report: JSON, Markdown and (with matplotlib, the bench extra) a PNG plot."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_report(report: dict[str, Any], out_dir: Path, name: str, markdown: Callable[[dict[str, Any]], str],
                 plot: Callable[[dict[str, Any], Path], None]) -> tuple[Path, Path]:
    """``<name>-<host>.json`` and ``.md`` (and ``.png`` when matplotlib is installed) in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{name}-{report['host']}"
    jpath, mpath = stem.with_suffix(".json"), stem.with_suffix(".md")
    jpath.write_text(json.dumps(report, indent=2) + "\n")
    mpath.write_text(markdown(report))
    try:
        plot(report, stem.with_suffix(".png"))
    except ImportError:
        pass
    return jpath, mpath
