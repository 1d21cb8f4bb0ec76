"""The debug build is real: Cython directives are set in setup.py only, where FASTEV_DEBUG turns checks on.

A `# cython: boundscheck=False` first line in a .pyx overrides setup.py's
directives, which once made FASTEV_DEBUG=1 build without bounds checks.
"""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "src" / "fastev" / "_core"
DIRECTIVE = re.compile(r"^#\s*cython\s*:", re.MULTILINE)
# A local directive may turn a check on (a Python list indexed under the GIL), never off.
DECORATOR = re.compile(r"(@|with )cython\.((boundscheck|wraparound|initializedcheck)\(False\)|cdivision\(True\))")


def test_no_source_file_sets_cython_directives() -> None:
    sources = sorted([*CORE.glob("*.pyx"), *CORE.glob("*.pxi"), *CORE.glob("*.pxd")])
    assert sources
    offenders = [p.name for p in sources if DIRECTIVE.search(p.read_text()) or DECORATOR.search(p.read_text())]
    assert offenders == [], f"directives belong in setup.py, not in {offenders}"


def test_setup_py_turns_checks_on_for_debug_and_off_for_release() -> None:
    namespace: dict[str, object] = {}
    text = (REPO / "setup.py").read_text()
    exec(text[: text.index("extensions = [")], namespace)  # the settings, without running setup()
    assert namespace["DEBUG_DIRECTIVES"] == {"boundscheck": True, "wraparound": False, "initializedcheck": True}
    assert namespace["RELEASE_DIRECTIVES"] == {"boundscheck": False, "wraparound": False, "initializedcheck": False}
    flags = namespace["COMPILE_ARGS"]
    assert isinstance(flags, dict)
    assert "-UNDEBUG" in flags["debug"] and "-fsanitize=address,undefined" in flags["asan"]
