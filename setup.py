"""Build the native core: every src/fastev/_core/*.pyx becomes fastev._core.<name>.

Three builds, chosen by the environment; the Cython directives live here only
(no .pyx file may set them on its first line, or it would override the build):

- release (default): no bounds or initialisation checks, -O3; the speed settings.
- debug (FASTEV_DEBUG=1): boundscheck and initializedcheck on, so an index
  outside a buffer raises IndexError instead of reading past it (wraparound
  stays off as in release, which makes a negative index an error too rather
  than silently meaning "from the end"); C asserts on (-UNDEBUG), -O0 -g.
- sanitizer (FASTEV_SANITIZE=1): the debug build compiled and linked with
  -fsanitize=address,undefined. Build it out of place (see `make test-asan`) so
  it never replaces the release extension modules.

Debug and sanitizer builds generate their C under build/cython-<variant>, so
switching builds never reuses C generated with other directives.
"""
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

SANITIZE = os.environ.get("FASTEV_SANITIZE") == "1"
DEBUG = SANITIZE or os.environ.get("FASTEV_DEBUG") == "1"
VARIANT = "asan" if SANITIZE else "debug" if DEBUG else "release"

RELEASE_DIRECTIVES = {"boundscheck": False, "wraparound": False, "initializedcheck": False}
DEBUG_DIRECTIVES = {"boundscheck": True, "wraparound": False, "initializedcheck": True}

SANITIZER_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
COMPILE_ARGS = {
    "release": ["-O3"],
    "debug": ["-O0", "-g", "-UNDEBUG"],
    # -O1 keeps the campaign fast enough while ASan still sees every access.
    "asan": ["-O1", "-g", "-UNDEBUG", *SANITIZER_FLAGS],
}

extensions = [
    Extension(
        "fastev._core." + os.path.splitext(os.path.basename(pyx))[0],
        [pyx],
        extra_compile_args=COMPILE_ARGS[VARIANT],
        extra_link_args=SANITIZER_FLAGS if SANITIZE else [],
        define_macros=[("CYTHON_TRACE_NOGIL", "0")],
    )
    for pyx in sorted(glob.glob("src/fastev/_core/*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            **(DEBUG_DIRECTIVES if DEBUG else RELEASE_DIRECTIVES),
            "cdivision": True,
            "embedsignature": True,
        },
        compile_time_env={"FASTEV_DEBUG": DEBUG},
        build_dir=None if VARIANT == "release" else f"build/cython-{VARIANT}",
        quiet=True,
    ),
)
