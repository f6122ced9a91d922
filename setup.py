"""Build every kmm/**/*.pyx as its own extension module.

KMM_DEBUG=1 at build time turns Cython's boundscheck/wraparound back on
(and adds -O0 -g) for a debugging build; the default build is optimised.
"""
import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import setup

debug = os.environ.get("KMM_DEBUG", "") not in ("", "0")
directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": debug,
    "initializedcheck": debug,
    "cdivision": True,
    "embedsignature": True,
}
extra = ["-O0", "-g"] if debug else ["-O3"]
extra += ["-Wno-unused-function", "-Wno-unreachable-code"]

pyx = sorted(str(p) for p in Path("kmm").rglob("*.pyx"))
ext = cythonize(
    pyx,
    compiler_directives=directives,
    include_path=["."],
    nthreads=os.cpu_count() or 1,
    quiet=True,
)
for e in ext:
    e.extra_compile_args = extra
    e.include_dirs = [numpy.get_include()]

setup(ext_modules=ext)
