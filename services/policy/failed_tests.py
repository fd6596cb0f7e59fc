"""What a failing Rego test compared, read from `opa test --var-values`. Pure.

`opa test --format=json` names the failing tests and where they start but not why; with
`--var-values` it also prints, for each failing test, the expression that failed and the
values of its parts (a text diagram). `--var-values` with `--format=json` is no help: it
dumps the whole evaluation trace (tens of megabytes for one safehub test), so the CLI re-runs
only the failing tests in text form and this module reads the diagram:

    data.safehub.sharing_test.test_x: FAIL (86ms)
    <blank>
      policies/safehub/sharing/encompass_test.rego:47:
        \t\t_decide(notice)["school-dsl"].outcome == outcome
        \t\t|       |                                |
        \t\t|       |                                "PARTIAL"
        \t\t|       {"classification": ...
        \t\t_decide(notice)["school-dsl"].outcome: "DENY"

For `actual == expected` the side that is a literal or a plain variable is taken as what the
test expected and the other side as what the policy produced; otherwise both sides are shown
as OPA printed them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["FailedExpression", "failed_expressions", "render_failure"]

_TEST_HEADER = re.compile(r"^(data\.\S+): (?:FAIL|ERROR)\b")
_LOCATION = re.compile(r"^  (\S.*):(\d+):$")
_NAMED_VALUE = re.compile(r"^(.+?): (.*)$")
_PLAIN_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class FailedExpression:
    """The expression a failing test stopped at, with the values OPA reported."""

    file: str
    row: int
    expression: str
    values: tuple[tuple[str, str], ...]
    """(sub-expression, value) in the order OPA printed them."""
    expected: str | None = None
    actual: str | None = None


def failed_expressions(text: str) -> dict[str, FailedExpression]:
    """`data.pkg.test_name` -> its failed expression, from `opa test --var-values` output.

    A failing test with no expression block (OPA prints none when something the test reads
    is undefined) is absent from the result.
    """
    lines = text.splitlines()
    if "FAILURES" in lines:
        lines = lines[lines.index("FAILURES") + 1 :]
    found: dict[str, FailedExpression] = {}
    index = 0
    while index < len(lines):
        header = _TEST_HEADER.match(lines[index])
        index += 1
        if header is None:
            continue
        while index < len(lines) and not lines[index].strip():
            index += 1
        location = _LOCATION.match(lines[index]) if index < len(lines) else None
        if location is None:
            continue
        block: list[str] = []
        index += 1
        while index < len(lines) and lines[index].startswith("    "):
            block.append(lines[index][4:])
            index += 1
        if block:
            found[header[1]] = _read_block(location[1], int(location[2]), block)
    return found


def _read_block(file: str, row: int, block: list[str]) -> FailedExpression:
    expression_line, diagram = block[0], block[1:]
    start = len(expression_line) - len(expression_line.lstrip())
    expression = expression_line.strip()
    by_column: dict[int, str] = {}
    named: list[tuple[str, str]] = []
    for line in diagram:
        column = len(line) - len(line.lstrip(" \t|"))
        text = line[column:].rstrip()
        if not text:
            continue
        match = _NAMED_VALUE.match(text)
        if match is not None and match[1] in expression:
            named.append((match[1], match[2]))
        else:
            by_column[column] = text
    values = [(_token_at(expression_line, column), value) for column, value in by_column.items()]
    values += named
    expected, actual = _expected_and_actual(expression, start, expression_line, by_column, named)
    return FailedExpression(
        file=file,
        row=row,
        expression=expression,
        values=tuple(values),
        expected=expected,
        actual=actual,
    )


def _token_at(line: str, column: int) -> str:
    """The name or call that starts at `column` of the expression line (for labelling)."""
    match = re.match(r"[A-Za-z0-9_.\"\[\]-]+(\([^()]*\))?", line[column:])
    return match[0] if match else line[column:].split(" ", 1)[0]


def _literal(text: str) -> str | None:
    try:
        json.loads(text)
    except ValueError:
        return None
    return text


def _expected_and_actual(
    expression: str,
    start: int,
    line: str,
    by_column: dict[int, str],
    named: list[tuple[str, str]],
) -> tuple[str | None, str | None]:
    left, separator, right = expression.partition(" == ")
    if not separator or " == " in right:
        return None, None
    right_column = start + len(left) + len(separator)
    lookup = dict(named)

    def value_of(side: str, column: int) -> str | None:
        return lookup.get(side) or by_column.get(column) or _literal(side)

    left_value, right_value = value_of(left, start), value_of(right, right_column)
    if left_value is None or right_value is None:
        return None, None

    def is_expectation(side: str) -> bool:
        return _literal(side) is not None or _PLAIN_VARIABLE.match(side) is not None

    if is_expectation(left) and not is_expectation(right):
        return left_value, right_value
    return right_value, left_value


def render_failure(name: str, test_location: str, failure: FailedExpression | None) -> list[str]:
    """Lines for one failing test: name, where it is, and what it compared."""
    lines = [f"FAILED  {name}", f"        test at {test_location}"]
    if failure is None:
        lines.append(
            "        OPA reported no failing expression: usually a rule or value the test "
            "reads is undefined (check its name and the input the test builds)"
        )
        return lines
    lines.append(f"        failed at {failure.file}:{failure.row}: {failure.expression}")
    if failure.expected is not None and failure.actual is not None:
        lines.append(f"        expected: {failure.expected}")
        lines.append(f"        actual:   {failure.actual}")
    for part, value in failure.values:
        if value not in (failure.expected, failure.actual):
            lines.append(f"        {part} = {value}")
    return lines
