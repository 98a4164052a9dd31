"""Writing output files so that a crash leaves either the old file or the complete new one.

Every report, export and generated file in the project goes through ``atomic_path`` or
``write_atomic``: data goes to a temporary file beside the target, is fsynced, and is renamed
onto the target in one step (``os.replace`` is atomic on POSIX within one filesystem).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; when the block ends without an exception the
    file written there is fsynced and renamed onto ``target``.  On an exception the temporary
    file is removed and ``target`` is left as it was."""
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(target: str | Path, data: bytes | str, encoding: str = "utf-8") -> None:
    """Write ``data`` (text is encoded with ``encoding``) to ``target`` atomically."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_path(target) as tmp:
        tmp.write_bytes(payload)


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable (best effort: some filesystems refuse O_RDONLY dirs)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
