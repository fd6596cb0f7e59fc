"""Readable summaries of `opa test` results and coverage. Pure: JSON in, lines out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CoverageSummary", "TestSummary", "summarise_coverage", "summarise_tests"]


@dataclass(frozen=True, slots=True)
class TestSummary:
    passed: int
    failed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failed and self.passed > 0


@dataclass(frozen=True, slots=True)
class CoverageSummary:
    percent: float
    uncovered: tuple[str, ...]
    """`file:line` for every line no test reached."""


def summarise_tests(results: list[dict[str, Any]]) -> TestSummary:
    failed = tuple(
        f"{r['package']}.{r['name']} ({r['location']['file']}:{r['location']['row']})"
        + (f": {r['error']['message']}" if r.get("error") else "")
        for r in results
        if r.get("fail") or r.get("error")
    )
    return TestSummary(passed=len(results) - len(failed), failed=failed)


def summarise_coverage(report: dict[str, Any]) -> CoverageSummary:
    uncovered: list[str] = []
    for file_name, entry in sorted(report.get("files", {}).items()):
        for span in entry.get("not_covered", []):
            start, end = span["start"]["row"], span["end"]["row"]
            uncovered.append(
                f"{file_name}:{start}" if start == end else f"{file_name}:{start}-{end}"
            )
    return CoverageSummary(percent=float(report.get("coverage", 0.0)), uncovered=tuple(uncovered))
