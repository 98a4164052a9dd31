"""Discovery end to end: scan the demo's leaked files and compare with what the generator planted.

The generator's manifest (written independently of the detector) is the reference: every
(file, field, type) it planted must be found, and nothing else may be reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leakwarden.demo import write_leak_files
from leakwarden.scan.scanner import scan_sources
from leakwarden.walkthrough import check_against_manifest


@pytest.fixture(scope="module")
def leak_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("leaks")
    write_leak_files(root, seed=11, rows=300)
    return root, scan_sources([str(root.resolve())])


def test_every_planted_field_is_found(leak_scan: tuple[Path, object]) -> None:
    root, report = leak_scan
    check = check_against_manifest(report, root)  # type: ignore[arg-type]
    assert check.expected, "the manifest planted nothing: the fixture is broken"
    assert sorted(check.missed) == []


def test_nothing_is_reported_that_was_not_planted(leak_scan: tuple[Path, object]) -> None:
    root, report = leak_scan
    check = check_against_manifest(report, root)  # type: ignore[arg-type]
    assert sorted(check.false) == []


def test_the_broken_file_is_reported_not_skipped(leak_scan: tuple[Path, object]) -> None:
    root, report = leak_scan
    check = check_against_manifest(report, root)  # type: ignore[arg-type]
    reported = {p.location.container for r in report.results for p in r.problems}  # type: ignore[attr-defined]
    assert check.problem_files and check.problem_files <= reported
