"""Build of the compiled CRF loops (``leakwarden.detect.ner._crfc``); everything else is in
pyproject.toml.  Cython is a build requirement there, so ``pip install -e .`` compiles it; a
failed compile fails the install (there is no silent pure-Python fallback)."""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "leakwarden.detect.ner._crfc",
        ["src/leakwarden/detect/ner/_crfc.pyx"],
        # IEEE sums in source order: the decoder must give crfsuite's labels bit for bit.
        extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math"],
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}))
