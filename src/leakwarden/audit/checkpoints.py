"""Signed checkpoints published outside the database, and reading them back.

A :class:`Publisher` signs a C2SP tlog-checkpoint (origin, size, base64 root) with the ledger's
Ed25519 key and writes it, atomically, to a folder (a mounted object store, a WORM share, a
folder another department copies away):

- ``checkpoint.<size, 12 digits>.<first 16 hex of root>``: every checkpoint ever published (two
  different roots for one size, a fork, leave two files);
- ``checkpoint``: the latest one.

It publishes when ``every_events`` new events or ``every_seconds`` have passed since the last
checkpoint (checked after each commit), on demand (:meth:`Publisher.publish`,
``leakwarden audit checkpoint``), and when the ledger closes with unpublished events.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from leakwarden.audit.note import Signer
from leakwarden.audit.standalone import Checkpoint, Note, VerificationError

if TYPE_CHECKING:
    from leakwarden.audit.ledger import Ledger

DEFAULT_ORIGIN = "leakwarden.local/audit"
# Configuration of the publisher a ledger opened without one uses (see Publisher.from_env).
ENV_KEY = "LEAKWARDEN_AUDIT_KEY"  # the ledger's private key file
ENV_DIR = "LEAKWARDEN_AUDIT_CHECKPOINTS"  # folder to publish to (default ./leakwarden-checkpoints)
ENV_ORIGIN = "LEAKWARDEN_AUDIT_ORIGIN"
ENV_EVERY = "LEAKWARDEN_AUDIT_CHECKPOINT_EVERY"  # events between checkpoints (default 10000)
ENV_SECONDS = "LEAKWARDEN_AUDIT_CHECKPOINT_SECONDS"  # seconds between checkpoints (default 60)
LATEST = "checkpoint"
PREFIX = "checkpoint."


class Publisher:
    """Signs and publishes checkpoints of one ledger to ``directory``."""

    def __init__(
        self,
        directory: str | Path,
        signer: Signer,
        *,
        origin: str = DEFAULT_ORIGIN,
        every_events: int | None = 10_000,
        every_seconds: float | None = 60.0,
    ) -> None:
        if "\n" in origin or not origin:
            raise ValueError("a checkpoint origin is one non-empty line")
        self.directory = Path(directory)
        self.signer = signer
        self.origin = origin
        self.every_events = every_events
        self.every_seconds = every_seconds
        self._lock = threading.Lock()
        self._last_size = -1
        self._last_time = time.monotonic()
        latest = self.directory / LATEST
        if latest.exists():
            try:
                self._last_size = Checkpoint.parse(Note.parse(latest.read_text()).text).size
            except (OSError, VerificationError):
                self._last_size = -1

    @classmethod
    def from_env(cls) -> Publisher | None:
        """The publisher the environment configures (``$LEAKWARDEN_AUDIT_KEY`` and friends, see
        the constants above), or None when no key is set.  A key file that cannot be used, or
        a bad number, raises ValueError naming the variable."""
        import os

        key = os.environ.get(ENV_KEY, "").strip()
        if not key:
            return None
        from leakwarden.audit.note import KeyFileError

        try:
            signer = Signer.load(key)
        except KeyFileError as exc:
            raise ValueError(f"${ENV_KEY}: {exc}") from None

        def number(var: str, default: float) -> float:
            raw = os.environ.get(var, "").strip()
            try:
                value = float(raw) if raw else default
            except ValueError:
                raise ValueError(f"${var}={raw!r} is not a number") from None
            if value <= 0:
                raise ValueError(f"${var}={raw!r} must be positive")
            return value

        return cls(
            os.environ.get(ENV_DIR, "").strip() or "leakwarden-checkpoints",
            signer,
            origin=os.environ.get(ENV_ORIGIN, "").strip() or DEFAULT_ORIGIN,
            every_events=int(number(ENV_EVERY, 10_000)),
            every_seconds=number(ENV_SECONDS, 60.0),
        )

    @property
    def last_size(self) -> int:
        return self._last_size

    def due(self, size: int) -> bool:
        if size <= self._last_size:
            return False
        if self.every_events is not None and size - max(self._last_size, 0) >= self.every_events:
            return True
        return (
            self.every_seconds is not None
            and time.monotonic() - self._last_time >= self.every_seconds
        )

    def publish(self, ledger: Ledger, size: int | None = None) -> Path:
        """Sign the checkpoint at ``size`` (default: the current size) and publish it; return
        the file written."""
        from leakwarden.fileio import write_atomic

        with self._lock:
            n = ledger.size() if size is None else size
            root = ledger.root(n)
            note = self.signer.sign(Checkpoint(self.origin, n, root).body())
            text = note.encode()
            path = self.directory / f"{PREFIX}{n:012d}.{root.hex()[:16]}"
            if not path.exists():
                write_atomic(path, text)
                ledger.record_checkpoint(n, root, text)
            if n >= self._last_size:
                write_atomic(self.directory / LATEST, text)
                self._last_size = n
            self._last_time = time.monotonic()
            return path


@dataclass(frozen=True)
class Published:
    """One checkpoint file read back: where it was, its note and body."""

    path: Path
    note: Note
    checkpoint: Checkpoint


def read_published(directory: str | Path) -> tuple[list[Published], list[str]]:
    """Every ``checkpoint.*`` file in ``directory`` (and the ``checkpoint`` file), parsed;
    files that cannot be read are returned as problems (path and reason)."""
    folder = Path(directory)
    found: list[Published] = []
    problems: list[str] = []
    paths = sorted(folder.glob(PREFIX + "*")) + [p for p in [folder / LATEST] if p.exists()]
    for path in paths:
        if path.name.endswith(".tmp"):
            continue
        try:
            note = Note.parse(path.read_text(encoding="utf-8"))
            found.append(Published(path, note, Checkpoint.parse(note.text)))
        except (OSError, UnicodeDecodeError, VerificationError) as exc:
            problems.append(f"{path}: {exc}")
    return found, problems
