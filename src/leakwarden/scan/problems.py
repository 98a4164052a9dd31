"""Collecting scan problems: everything skipped is reported with where and why, never dropped.

A container (file, sheet, table) that keeps failing in the same way would flood the report, so
after ``limit`` problems for one container the rest are counted and summarised in one problem.
"""

from __future__ import annotations

from leakwarden.store.records import Location, ScanProblem


class ProblemLog:
    """Problems of one scan task, capped per container with a closing summary."""

    def __init__(self, limit: int = 50) -> None:
        self.limit = limit
        self.problems: list[ScanProblem] = []
        self._counts: dict[Location, int] = {}

    def add(self, location: Location, problem: str, position: str = "") -> None:
        count = self._counts.get(location, 0) + 1
        self._counts[location] = count
        if count <= self.limit:
            self.problems.append(ScanProblem(location, problem, position))

    def count(self, location: Location) -> int:
        return self._counts.get(location, 0)

    def close(self) -> list[ScanProblem]:
        """The problems, plus one summary for each container over the limit."""
        out = list(self.problems)
        for location, count in self._counts.items():
            if count > self.limit:
                out.append(
                    ScanProblem(
                        location,
                        f"{count - self.limit} more problems of this file/table not listed "
                        f"(limit {self.limit} per container)",
                    )
                )
        return out
