"""Build of the compiled extensions; everything else is in pyproject.toml.  Cython is a build
requirement there, so ``pip install -e .`` compiles them; a failed compile fails the install
(there is no silent pure-Python fallback).

* ``leakwarden.detect.ner._crfc``: the CRF loops.
* ``leakwarden.detect._patterns``: the engine's pattern pass over Hyperscan's C API (needs
  Hyperscan's headers and library: Debian ``libhyperscan-dev``).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "leakwarden.detect.ner._crfc",
        ["src/leakwarden/detect/ner/_crfc.pyx"],
        # IEEE sums in source order: the decoder must give crfsuite's labels bit for bit.
        extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math"],
    ),
    Extension(
        "leakwarden.detect._patterns",
        ["src/leakwarden/detect/_patterns.pyx"],
        libraries=["hs"],
        extra_compile_args=["-O2"],
    ),
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}))
