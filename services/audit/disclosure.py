"""Statistical disclosure control for published counts: pure functions over plain tables.

Figures for the safeguarding partnership leave the hub, so a small count must not point at a
child. The method is the one English official statistics use for tables of counts:

Primary suppression
    A count from 1 to `threshold - 1` (default 1-4) is replaced by `[c]`, totals included. The
    symbol is the Government Statistical Service's for "confidential" (GSS guidance *Symbols
    in tables, definitions and footnotes*); DfE statistics publish suppressed cells as `c`
    and NHS England (formerly NHS Digital) as `*`. Which small numbers a publication suppresses
    differs (check against the current publication: DfE's children in need tables and NHS
    England's Hospital Episode Statistics each state theirs); the threshold is a parameter.
    **Zeros are shown**, as DfE and NHS England tables show them: a zero says nobody, which
    identifies nobody. (A zero is never used to protect another cell, see below.)

Secondary (complementary) suppression
    A suppressed cell must not be recoverable from the totals published beside it. Each row
    and column with a total is a linear equation over its cells and that total. Think of the
    table with its totals as a graph: one node per published equation (each row, each
    column, the row of column totals and the column of row totals), every entry an edge
    between the row equation and the column equation it appears in (an entry in no equation
    of a side hangs on a common "ground" node for that side). The suppressed entries'
    alternative values that keep every equation are exactly the cycle space of the graph of
    suppressed edges, so a suppressed entry is recoverable exactly when it is a *bridge* of
    that graph (it lies on no cycle). If every suppressed entry is at least 1, moving +1/-1
    alternately round a cycle keeps every value non-negative, so an entry on a cycle admits
    at least two values. The familiar rule "at least two suppressed cells in any row or column
    that has one" is the degree part of this; it misses bridges between two protected blocks,
    which this check does not.

    So: while a suppressed entry is a bridge, also suppress the smallest non-zero published
    entry in its row or column (totals included: a row whose other cells are all zero is
    protected by suppressing its total), ties broken by position. Never a zero: a zero can
    only move up, which may not be enough. If no non-zero entry is left to suppress, the
    whole table is withheld. This is the "next smallest cell" practice DfE and ONS describe;
    it does not protect linked tables (the same counts cut two ways in two tables): each
    table here is protected on its own, see the module README.

Rounding
    Where a figure sits beside national figures published rounded, its published values are
    rounded too (`round_to`, e.g. 5, as NHS England rounds HES counts), each value rounded
    on its own from its true value, totals included, after suppression. Rounding only widens
    what the published figures allow (the true table and every alternative found above still
    round to what was published), so suppression stays sound.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "SUPPRESSED",
    "CrossTab",
    "DisclosureRules",
    "Position",
    "PublishedTable",
    "equations",
    "protect",
    "recoverable",
]

SUPPRESSED = "[c]"
"""The GSS symbol for a value withheld to protect confidentiality."""

Position = tuple[int, int]
"""(row, column) in the table with its totals: row == len(rows) is the row of column totals,
column == len(columns) the column of row totals."""


@dataclass(frozen=True, slots=True)
class DisclosureRules:
    """How a table is protected before it is published."""

    threshold: int = 5
    """Counts from 1 to threshold - 1 are suppressed (primary suppression)."""
    round_to: int | None = None
    """Round every published count to a multiple of this (e.g. 5); None publishes them as
    counted."""

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError("the suppression threshold must be at least 1")
        if self.round_to is not None and self.round_to < 1:
            raise ValueError("rounding must be to a positive base, e.g. 5")


@dataclass(frozen=True, slots=True)
class CrossTab:
    """Counts by two dimensions, before protection. Totals are sums of the cells."""

    title: str
    unit: str
    """What is counted, e.g. 'children' or 'sharing decisions'."""
    row_label: str
    column_label: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[int, ...], ...]
    row_totals: bool = True
    """Publish a total for each row (and, with column totals, the grand total)."""
    column_totals: bool = True

    def __post_init__(self) -> None:
        if len(self.cells) != len(self.rows) or any(
            len(row) != len(self.columns) for row in self.cells
        ):
            raise ValueError(f"table {self.title!r}: cells do not match its rows and columns")
        if any(value < 0 for row in self.cells for value in row):
            raise ValueError(f"table {self.title!r}: counts cannot be negative")

    @property
    def grand_total(self) -> bool:
        return self.row_totals and self.column_totals

    def values(self) -> dict[Position, int]:
        """Every entry that would be published (cells and the totals asked for), by position."""
        n_rows, n_cols = len(self.rows), len(self.columns)
        out: dict[Position, int] = {}
        for i, row in enumerate(self.cells):
            for j, value in enumerate(row):
                out[i, j] = value
            if self.row_totals:
                out[i, n_cols] = sum(row)
        if self.column_totals:
            for j in range(n_cols):
                out[n_rows, j] = sum(row[j] for row in self.cells)
        if self.grand_total:
            out[n_rows, n_cols] = sum(sum(row) for row in self.cells)
        return out


@dataclass(frozen=True, slots=True)
class PublishedTable:
    """A table as it may be published: each entry a count (perhaps rounded) or `[c]`."""

    table: CrossTab
    rules: DisclosureRules
    cells: tuple[tuple[str, ...], ...]
    row_totals: tuple[str, ...] | None
    column_totals: tuple[str, ...] | None
    grand_total: str | None
    primary: frozenset[Position]
    suppressed: frozenset[Position]
    """Primary and secondary together."""
    withheld: bool
    """True when no pattern protects the table and nothing of it is published."""

    def entry(self, position: Position) -> str:
        i, j = position
        n_rows, n_cols = len(self.table.rows), len(self.table.columns)
        if i < n_rows and j < n_cols:
            return self.cells[i][j]
        if i < n_rows:
            assert self.row_totals is not None
            return self.row_totals[i]
        if j < n_cols:
            assert self.column_totals is not None
            return self.column_totals[j]
        assert self.grand_total is not None
        return self.grand_total

    def csv_rows(self) -> list[list[str]]:
        """Header and rows, totals last, as a CSV file holds them."""
        t = self.table
        header = [t.row_label, *t.columns] + (["Total"] if self.row_totals is not None else [])
        out = [header]
        for i, name in enumerate(t.rows):
            tail = [self.row_totals[i]] if self.row_totals is not None else []
            out.append([name, *self.cells[i], *tail])
        if self.column_totals is not None:
            tail = [self.grand_total or ""] if self.row_totals is not None else []
            out.append(["Total", *self.column_totals, *tail])
        return out

    def published_value(self, position: Position) -> int | None:
        """The number published at a position, or None where it is suppressed."""
        text = self.entry(position)
        return None if text == SUPPRESSED else int(text)


_GROUND_ROW = ("ground", -1)
_GROUND_COLUMN = _GROUND_ROW  # one ground node: an entry in no equation on either side


def equations(table: CrossTab) -> dict[Position, tuple[tuple[str, int], tuple[str, int]]]:
    """For each entry, the two equations (graph nodes) it appears in; `ground` where the
    table publishes no total on that side."""
    n_rows, n_cols = len(table.rows), len(table.columns)
    ends: dict[Position, tuple[tuple[str, int], tuple[str, int]]] = {}
    for position in table.values():
        i, j = position
        # Row i's equation exists when row totals are published; the row of column totals
        # is an equation only when the grand total is published too. Columns likewise.
        row_eq = table.row_totals if i < n_rows else table.grand_total
        col_eq = table.column_totals if j < n_cols else table.grand_total
        ends[position] = (
            ("row", i) if row_eq else _GROUND_ROW,
            ("column", j) if col_eq else _GROUND_COLUMN,
        )
    return ends


def recoverable(table: CrossTab, suppressed: Iterable[Position]) -> list[Position]:
    """Suppressed entries that the published entries determine (bridges of the graph of
    suppressed entries), in position order."""
    ends = equations(table)
    chosen = sorted(set(suppressed))
    adjacency: dict[tuple[str, int], list[tuple[Position, tuple[str, int]]]] = defaultdict(list)
    for position in chosen:
        a, b = ends[position]
        adjacency[a].append((position, b))
        adjacency[b].append((position, a))
    out = []
    for position in chosen:
        a, b = ends[position]
        if a == b:
            continue  # a loop: an entry in no equation at all is never determined
        if not _connected_without(adjacency, a, b, position):
            out.append(position)
    return out


def _connected_without(
    adjacency: dict[tuple[str, int], list[tuple[Position, tuple[str, int]]]],
    start: tuple[str, int],
    goal: tuple[str, int],
    removed: Position,
) -> bool:
    seen = {start}
    frontier = [start]
    while frontier:
        node = frontier.pop()
        for edge, other in adjacency[node]:
            if edge == removed or other in seen:
                continue
            if other == goal:
                return True
            seen.add(other)
            frontier.append(other)
    return False


def protect(table: CrossTab, rules: DisclosureRules | None = None) -> PublishedTable:
    """The table with primary and secondary suppression (and rounding) applied."""
    rules = rules or DisclosureRules()
    values = table.values()
    ends = equations(table)
    primary = frozenset(p for p, v in values.items() if 1 <= v < rules.threshold)
    suppressed = set(primary)
    withheld = False
    while bridges := recoverable(table, suppressed):
        complement = _complement(bridges[0], values, suppressed, ends)
        if complement is None:
            withheld = True
            suppressed = set(values)
            break
        suppressed.add(complement)
    return _render(table, rules, values, primary, frozenset(suppressed), withheld)


def _complement(
    bridge: Position,
    values: dict[Position, int],
    suppressed: set[Position],
    ends: dict[Position, tuple[tuple[str, int], tuple[str, int]]],
) -> Position | None:
    """The entry to suppress next: the smallest non-zero published entry sharing an
    equation with the bridge, else the smallest non-zero published entry anywhere."""
    lines = {node for node in ends[bridge] if node != _GROUND_ROW}
    open_ = [(v, p) for p, v in values.items() if p not in suppressed and v > 0]
    near = [(v, p) for v, p in open_ if lines & set(ends[p])]
    pool = near or open_
    return min(pool)[1] if pool else None


def _render(
    table: CrossTab,
    rules: DisclosureRules,
    values: dict[Position, int],
    primary: frozenset[Position],
    suppressed: frozenset[Position],
    withheld: bool,
) -> PublishedTable:
    def text(position: Position) -> str:
        if position in suppressed:
            return SUPPRESSED
        return str(_rounded(values[position], rules.round_to))

    n_rows, n_cols = len(table.rows), len(table.columns)
    return PublishedTable(
        table=table,
        rules=rules,
        cells=tuple(tuple(text((i, j)) for j in range(n_cols)) for i in range(n_rows)),
        row_totals=tuple(text((i, n_cols)) for i in range(n_rows)) if table.row_totals else None,
        column_totals=(
            tuple(text((n_rows, j)) for j in range(n_cols)) if table.column_totals else None
        ),
        grand_total=text((n_rows, n_cols)) if table.grand_total else None,
        primary=primary,
        suppressed=suppressed,
        withheld=withheld,
    )


def _rounded(value: int, base: int | None) -> int:
    """Nearest multiple of `base`, halves up (as published counts are rounded)."""
    if base is None:
        return value
    return ((value + base // 2) // base) * base if base > 1 else value
