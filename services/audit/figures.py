"""The edge of the prevalence figures and the decision-mix view: read the sharing decisions
from the audit store, then render CSV files and HTML pages with charts (matplotlib SVG,
inline). The counting and the disclosure control are pure (`services.audit.prevalence`,
`services.audit.disclosure`); this module only reads, draws and writes.

Charts are drawn from the *published* figures only: a suppressed value is not drawn (the
bar is absent and the chart's caption says so), so the picture never shows what the table
hides. Every chart has the table it is drawn from beside it (the accessible alternative)
and a text description (`aria-label`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

# The object API, not pyplot: no global figure state, so pages render safely from the API's
# worker threads, and no display backend is chosen at import.
from matplotlib.figure import Figure

from services.audit.break_glass_review import NOT_REVIEWED, OUTCOME_WORDS, ReviewOutcome
from services.audit.child_lookup import ChildIndexUnavailable, ChildProfiles
from services.audit.disclosure import SUPPRESSED, DisclosureRules, PublishedTable, protect
from services.audit.indexer import to_ms
from services.audit.linkage import child_groups
from services.audit.prevalence import (
    OUTCOMES,
    CharacteristicsByMonth,
    ChildCharacteristics,
    DecisionMix,
    DecisionRow,
    MixCount,
    Period,
    RepeatMissingRule,
    characteristics_asked,
    decision_mix,
    prevalence_tables,
)
from services.audit.storage import AuditStore, DecisionQuery
from services.hubkit.audit_trail import read_logged_record
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import CodecError
from services.hubkit.topology import load_topology

__all__ = [
    "Characteristics",
    "DecisionMixReport",
    "PrevalenceReport",
    "decision_mix_report",
    "prevalence_report",
    "read_characteristics",
    "read_decision_rows",
    "repeat_missing_rule",
    "sender_agencies",
    "write_files",
]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies; bars carry a
# dark edge so adjacent segments differ in more than hue.
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_OUTCOME_COLOUR = dict(zip(OUTCOMES, ("#0072B2", "#56B4E9", "#E69F00", "#D55E00"), strict=True))
# Each series also gets its own fill pattern, so stacked segments (and the legend) differ in
# more than hue, in greyscale print and for readers who do not see the colours apart.
_HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")
_OUTCOME_HATCH = dict(zip(OUTCOMES, ("", "//", "..", "xx"), strict=True))
_EDGE_COLOUR, _EDGE_WIDTH = "#1b1b1b", 0.8


@dataclass(frozen=True, slots=True)
class PrevalenceReport:
    tables: Mapping[str, PublishedTable]
    html: str

    def csv_files(self) -> dict[str, str]:
        return {f"{stem}.csv": _csv(t.csv_rows()) for stem, t in self.tables.items()}


@dataclass(frozen=True, slots=True)
class DecisionMixReport:
    mix: DecisionMix
    html: str
    break_glass: Mapping[tuple[str, str], int] | None = None
    """(recipient, review outcome or NOT_REVIEWED) -> emergency access grants (issue 18);
    None when the reviews were not read (no CSV then)."""

    def csv_files(self) -> dict[str, str]:
        def rows(counts: Sequence[MixCount], group: str) -> list[list[str]]:
            header = [self.mix.period.value, group, "outcome", "decisions"]
            return [header] + [[c.period, c.group, c.outcome, str(c.decisions)] for c in counts]

        files = {
            "decision_mix_by_recipient.csv": _csv(rows(self.mix.by_recipient, "recipient")),
            "decision_mix_by_rule.csv": _csv(rows(self.mix.by_rule, "rule")),
        }
        if self.break_glass is not None:
            files["break_glass_by_recipient_and_review.csv"] = _csv(
                [["recipient", "review", "grants"]]
                + [[desk, review, str(n)] for (desk, review), n in self.break_glass.items()]
            )
        return files


# ---------------------------------------------------------------------------------------------
# Reading


def sender_agencies(policies_dir: Path) -> dict[str, str]:
    """Organisation code -> agency code, from the policy bundle's agency list."""
    return {a.organisation: a.code for a in load_topology(policies_dir).agencies}


def repeat_missing_rule(policies_dir: Path) -> RepeatMissingRule:
    """R8's repeat threshold and window, from the policy data (one source of truth)."""
    r8 = json.loads((policies_dir / "safehub/rules/data.json").read_text())["R8"]
    return RepeatMissingRule(
        threshold=int(r8["repeat_threshold"]), window_days=int(r8["window_days"])
    )


def read_decision_rows(
    store: AuditStore,
    catalog: SchemaCatalog,
    *,
    start: dt.datetime,
    end: dt.datetime,
    agencies: Mapping[str, str],
    page: int = 1000,
) -> list[DecisionRow]:
    """Every sharing decision decided in [start, end), each child's keys mapped to one key
    (the child index's merges and splits, as the indexer recorded them)."""
    groups = child_groups(store.linkage_changes())
    out: list[DecisionRow] = []
    offset = 0
    while True:
        leaves = store.find(
            DecisionQuery(
                event="SHARING_DECISION",
                decided_from_ms=to_ms(start),
                decided_to_ms=to_ms(end),
                limit=page,
                offset=offset,
            )
        )
        for leaf in leaves:
            try:
                logged = read_logged_record(catalog, leaf.data)
            except CodecError:
                continue
            if logged.message_type is not MessageType.AUDIT_RECORD:
                continue
            record = logged.record
            key = record.get("subject_linkage_key")
            recipient = record.get("recipient") or {}
            decided = record["decided_at"]
            out.append(
                DecisionRow(
                    decided_at=decided if decided.tzinfo else decided.replace(tzinfo=dt.UTC),
                    notice_id=str(record.get("notice_id")),
                    notice_type=record.get("notice_type"),
                    child=min(groups.get(key, frozenset({key}))) if key else None,
                    sender_agency=agencies.get(str(record.get("originating_controller"))),
                    recipient=recipient.get("subscriber_id"),
                    outcome=record.get("outcome"),
                    rule_ids=tuple(record.get("rule_ids") or ()),
                )
            )
        if len(leaves) < page:
            return out
        offset += page


@dataclass(frozen=True, slots=True)
class Characteristics:
    """What the child index said about the children counted, or why it said nothing."""

    by_month: CharacteristicsByMonth | None
    unavailable: str | None = None
    """Why there are no age band and sex figures (the index's reason); None when there are."""


async def read_characteristics(
    index: ChildProfiles, rows: Sequence[DecisionRow], *, start: dt.datetime, end: dt.datetime
) -> Characteristics:
    """Each counted child's age band in each month and sex, from the child index (batched);
    when the index cannot answer, no such figures and the reason, never a guess."""
    asked = characteristics_asked(rows, start=start, end=end)
    pairs = list(asked.items())
    try:
        found = await index.profiles([(child, day) for (child, _), day in pairs])
    except ChildIndexUnavailable as unavailable:
        return Characteristics(None, f"{unavailable.reason}.")
    return Characteristics(
        {
            key: ChildCharacteristics(age_band=f.age_band, sex=f.sex)
            for (key, _), f in zip(pairs, found, strict=True)
        }
    )


# ---------------------------------------------------------------------------------------------
# Reports


def prevalence_report(
    rows: Sequence[DecisionRow],
    *,
    start: dt.datetime,
    end: dt.datetime,
    repeat_rule: RepeatMissingRule,
    rules: DisclosureRules,
    generated_at: dt.datetime,
    characteristics: Characteristics | None = None,
) -> PrevalenceReport:
    """Protected tables and the HTML page. `rows` should reach back R8's window before
    `start` (for repeat missing); the other tables count only [start, end). The age band and
    sex tables need `characteristics` (read_characteristics)."""
    known = characteristics or Characteristics(None, "the child index was not asked.")
    tables = {
        stem: protect(table, rules)
        for stem, table in prevalence_tables(
            rows,
            start=start,
            end=end,
            repeat_rule=repeat_rule,
            characteristics=known.by_month,
        ).items()
    }
    sections = [
        {"stem": stem, "published": t, "chart": _table_chart(t)} for stem, t in tables.items()
    ]
    html = _ENV.get_template("prevalence.html").render(
        sections=sections,
        start=start,
        end=end,
        rules=rules,
        repeat_rule=repeat_rule,
        generated_at=generated_at,
        suppressed=SUPPRESSED,
        characteristics_note=known.unavailable,
    )
    return PrevalenceReport(tables=tables, html=html)


def decision_mix_report(
    rows: Sequence[DecisionRow],
    *,
    start: dt.datetime,
    end: dt.datetime,
    period: Period,
    generated_at: dt.datetime,
    break_glass: Mapping[tuple[str, str], int] | None = None,
) -> DecisionMixReport:
    """`break_glass`: emergency access grants in the period by recipient and review
    (`break_glass_review.grants_by_recipient_and_review`), shown as a table when given."""
    mix = decision_mix(rows, start=start, end=end, period=period)
    html = _ENV.get_template("decision_mix.html").render(
        mix=mix,
        start=start,
        end=end,
        generated_at=generated_at,
        by_recipient=_mix_chart(mix, mix.by_recipient, "recipient"),
        by_rule=_mix_chart(mix, mix.by_rule, "rule"),
        outcomes=OUTCOMES,
        break_glass=_break_glass_table(break_glass),
    )
    return DecisionMixReport(mix=mix, html=html, break_glass=break_glass)


def _break_glass_table(
    counts: Mapping[tuple[str, str], int] | None,
) -> tuple[tuple[str, ...], list[tuple[str, list[int]]]] | None:
    """(review columns, [(recipient, a count per column and the total)]) for the page."""
    if counts is None:
        return None
    columns = (NOT_REVIEWED, *(o.value for o in ReviewOutcome))
    desks = sorted({desk for desk, _ in counts})
    rows = []
    for desk in desks:
        cells = [counts.get((desk, c), 0) for c in columns]
        rows.append((desk, [*cells, sum(cells)]))
    return tuple(OUTCOME_WORDS[c] for c in columns), rows


def write_files(directory: Path, html_name: str, html: str, files: Mapping[str, str]) -> list[Path]:
    """Write the page and the CSV files into `directory` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in {html_name: html, **files}.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------------
# Charts


@dataclass(frozen=True, slots=True)
class _Chart:
    svg: str
    description: str


def _table_chart(table: PublishedTable) -> _Chart:
    """Stacked bars, one per row (or per column for a one-row table), of published values."""
    t = table.table
    fig = Figure(figsize=(9, 3.6))
    ax = fig.subplots()
    if len(t.rows) == 1:
        values = [table.published_value((0, j)) or 0 for j in range(len(t.columns))]
        if any(values):
            ax.bar(
                t.columns,
                values,
                color=_PALETTE[0],
                edgecolor=_EDGE_COLOUR,
                linewidth=_EDGE_WIDTH,
            )
        ax.set_xlabel(t.column_label)
    else:
        bottom = [0] * len(t.rows)
        for j, column in enumerate(t.columns):
            heights = [table.published_value((i, j)) or 0 for i in range(len(t.rows))]
            if not any(heights):
                continue
            ax.bar(
                t.rows,
                heights,
                bottom=bottom,
                label=column,
                color=_PALETTE[j % len(_PALETTE)],
                hatch=_HATCHES[j % len(_HATCHES)],
                edgecolor=_EDGE_COLOUR,
                linewidth=_EDGE_WIDTH,
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_xlabel(t.row_label)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(title=t.column_label, fontsize=9, loc="upper left", bbox_to_anchor=(1, 1))
    if not ax.containers:
        # Every value that could be drawn is suppressed (or zero): an empty frame with a 0-1
        # axis would read as "none"; say so instead and leave the table to speak.
        return _Chart(
            svg="",
            description=f"No chart: every non-zero value of {t.title.lower()} is suppressed "
            "or the table is empty. The table below holds what can be published.",
        )
    ax.set_ylabel(t.unit.split(" (")[0])
    ax.tick_params(axis="x", labelrotation=45, labelsize=9)
    hidden = len(table.suppressed)
    description = (
        f"Bar chart of {t.title.lower()}."
        + (f" {hidden} suppressed value(s) are not drawn." if hidden else "")
        + " The table below holds the same figures."
    )
    return _Chart(svg=_svg(fig), description=description)


def _mix_chart(mix: DecisionMix, counts: Sequence[MixCount], what: str) -> list[tuple[str, _Chart]]:
    """One small chart per recipient (or rule): outcomes stacked per period."""
    by_group: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for c in counts:
        by_group[c.group][c.period, c.outcome] = c.decisions
    charts = []
    for group, cells in by_group.items():
        fig = Figure(figsize=(7, 2.6))
        ax = fig.subplots()
        bottom = [0] * len(mix.periods)
        outcomes = [*OUTCOMES, *sorted({o for _, o in cells} - set(OUTCOMES))]
        for k, outcome in enumerate(outcomes):
            heights = [cells.get((p, outcome), 0) for p in mix.periods]
            if not any(heights):
                continue
            ax.bar(
                mix.periods,
                heights,
                bottom=bottom,
                label=OUTCOMES.get(outcome, outcome),
                color=_OUTCOME_COLOUR.get(outcome, _PALETTE[k % len(_PALETTE)]),
                hatch=_OUTCOME_HATCH.get(outcome, _HATCHES[k % len(_HATCHES)]),
                edgecolor=_EDGE_COLOUR,
                linewidth=_EDGE_WIDTH,
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_title(f"{what} {group}", fontsize=10)
        ax.set_ylabel("decisions")
        ax.tick_params(axis="x", labelrotation=45, labelsize=9)
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1, 1))
        total = sum(cells.values())
        charts.append(
            (
                group,
                _Chart(
                    svg=_svg(fig),
                    description=(
                        f"Stacked bar chart: outcomes of {total} decision(s) for {what} {group} "
                        f"per {mix.period.value}."
                    ),
                ),
            )
        )
    return charts


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    # Inline in the page: drop the XML prolog and DOCTYPE, keep the <svg> element.
    return text[text.index("<svg") :]


def _csv(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("services.audit", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
