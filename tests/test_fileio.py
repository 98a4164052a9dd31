"""Atomic writes: the target is either the old file or the complete new one."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakwarden.fileio import atomic_path, write_atomic


def test_write_atomic_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.html"
    write_atomic(target, "first version, long enough to notice a partial overwrite")
    write_atomic(target, "二")
    assert target.read_text(encoding="utf-8") == "二"
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_a_failure_inside_the_block_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    target.write_bytes(b"old,complete\n")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_bytes(b"new,half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old,complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]
