"""Readable summaries of `opa test` results, coverage and `opa fmt` changes. Pure."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CoverageSummary",
    "TestSummary",
    "format_diff",
    "summarise_coverage",
    "summarise_tests",
]


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


def format_diff(path: str, original: str, formatted: str) -> list[str]:
    """A unified diff of what `opa fmt -w` would change in one file.

    `opa fmt --diff` marks changes with terminal colours inside otherwise identical lines and
    does not name the file, which is unreadable in a CI log; this says the same thing as
    ordinary `-`/`+` lines under the file's name. Whitespace is made visible (a tab as `→`,
    trailing spaces as `·`), since most formatting changes are whitespace.
    """

    def visible(line: str) -> str:
        text = line.rstrip("\n").replace("\t", "→   ")
        trailing = len(text) - len(text.rstrip(" "))
        return text.rstrip(" ") + "·" * trailing

    lines = difflib.unified_diff(
        [visible(line) for line in original.splitlines(keepends=True)],
        [visible(line) for line in formatted.splitlines(keepends=True)],
        fromfile=f"{path} (as it is)",
        tofile=f"{path} (after opa fmt -w)",
        lineterm="",
    )
    return list(lines)
