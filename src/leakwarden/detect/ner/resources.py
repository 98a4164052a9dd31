"""The shipped resource files of the name/address tagger and how they are read and written.

All live in the package folder ``leakwarden/detect/ner/models/`` (package data) and are produced
by ``python -m leakwarden.detect.ner.train``; nothing is fetched at run time.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path

MODEL_FILE = "zh_ner.crfsuite"
SURNAMES_FILE = "zh_surnames.txt"
PLACES_FILE = "zh_places.txt"
LATIN_FIRST_FILE = "latin_first_names.txt"
LATIN_LAST_FILE = "latin_last_names.txt"
STREET_SUFFIXES_FILE = "street_suffixes.txt"

ALL_FILES = (
    MODEL_FILE,
    SURNAMES_FILE,
    PLACES_FILE,
    LATIN_FIRST_FILE,
    LATIN_LAST_FILE,
    STREET_SUFFIXES_FILE,
)


class ResourceError(RuntimeError):
    """A shipped resource file is missing or unreadable (the message names it)."""


def package_models_dir() -> Path:
    """Where the source tree keeps the models (the training tool's default output)."""
    return Path(__file__).resolve().parent / "models"


def read_bytes(name: str, directory: Path | None = None) -> bytes:
    """Bytes of one resource, from ``directory`` if given, else from the installed package."""
    try:
        if directory is not None:
            return (directory / name).read_bytes()
        return (resources.files("leakwarden.detect.ner") / "models" / name).read_bytes()
    except OSError as exc:
        where = directory if directory is not None else "leakwarden/detect/ner/models"
        raise ResourceError(
            f"name/address model resource {name!r} cannot be read from {where}: {exc}; "
            "rebuild it with `python -m leakwarden.detect.ner.train`"
        ) from exc


def read_lines(name: str, directory: Path | None = None) -> list[str]:
    """Non-empty, non-comment lines of a UTF-8 list file."""
    text = read_bytes(name, directory).decode("utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def write_lines(path: Path, header: str, items: Iterable[str]) -> None:
    lines = [f"# {h}" for h in header.splitlines()]
    lines.extend(sorted(set(items)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
