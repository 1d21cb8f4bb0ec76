"""Build the native core: every src/fastev/_core/*.pyx becomes fastev._core.<name>.

FASTEV_DEBUG=1 builds with bounds checks and assertions on (debug-only checks
sit behind this compile-time switch so release builds pay nothing).
"""
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTEV_DEBUG") == "1"

extensions = [
    Extension(
        "fastev._core." + os.path.splitext(os.path.basename(pyx))[0],
        [pyx],
        extra_compile_args=["-O3"] if not DEBUG else ["-O0", "-g"],
        define_macros=[("CYTHON_TRACE_NOGIL", "0")],
    )
    for pyx in sorted(glob.glob("src/fastev/_core/*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            "boundscheck": DEBUG,
            "wraparound": False,
            "initializedcheck": DEBUG,
            "cdivision": True,
            "embedsignature": True,
        },
        compile_time_env={"FASTEV_DEBUG": DEBUG},
    ),
)
