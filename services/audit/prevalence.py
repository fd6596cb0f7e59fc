"""Prevalence figures for the safeguarding partnership, and the IG decision mix: pure counts
over the sharing decisions the audit log holds.

What the figures can say is what the hub records per decision (the AuditRecord): the notice's
type (the concern: missing, exploitation, trafficking, domestic abuse, ...), the child's
pseudonymous key, when it was decided, the organisation that sent it, the recipient, the
outcome and the rules that fired. "Outcome" is the sharing decision's outcome (PERMIT,
PARTIAL, FLAG_ONLY, DENY), not the MASH's (the MASH_DECISION notice's outcome is in the
notice, not in the audit record).

Age band and sex
    **The audit record carries no age or sex**, and adding them would copy personal data into
    a permanent, append-only log that partners receive proofs from. They come from the child
    index instead, which holds the agencies' records of each child: for every child and month
    the edge asks the index for the child's age band on the day of their first notice that
    month and their sex (`ChildCharacteristics`; the index answers with a band and F/M, never
    a date of birth: services/childindex/demographics.py). A child whose records do not settle
    it counts as "Not known". Without the index the age and sex tables are left out and the
    report says why.

Children, not notices
    A figure about children counts distinct children: one child's notices from four agencies
    are one child, and keys the child index merged are one child (`child_of` maps every key
    to its child; see `services.audit.linkage`). A child appears in every month (and every
    concern) in which they had a notice, so a row or column total is the sum of its cells
    (child-months), stated on the table.

Repeat missing
    R8's threshold, from the policy data (`rules/data.json`: `R8.repeat_threshold` episodes in
    `R8.window_days`): a child counts in a month when a missing-episode notice about them
    decided in that month is at least the threshold-th within the window ending at it.
    The audit record carries the notice, not the episode's start: a REPORTED and a RETURNED
    notice of one episode are two notices, so this counts notices and may over-count children
    whose episodes were each reported more than once. Labelled as such in the report.

No I/O: the edge (`services.audit.figures`) reads the store and hands rows in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.audit.disclosure import CrossTab
from services.hubkit.age_bands import AGE_BAND_LABELS
from services.hubkit.agency_labels import AGENCY_LABELS

__all__ = [
    "AGENCIES",
    "CONCERNS",
    "NOT_KNOWN",
    "OUTCOMES",
    "SEXES",
    "CharacteristicsByMonth",
    "ChildCharacteristics",
    "DecisionMix",
    "DecisionRow",
    "MixCount",
    "Period",
    "RepeatMissingRule",
    "characteristics_asked",
    "children_by_concern_and_age_band",
    "children_by_month_and_age_band",
    "children_by_month_and_agency",
    "children_by_month_and_concern",
    "children_by_month_and_sex",
    "decision_mix",
    "decisions_by_month_and_outcome",
    "months_between",
    "period_label",
    "prevalence_tables",
    "repeat_missing_by_month",
]

CONCERNS: Mapping[str, str] = {
    "MISSING_EPISODE": "Missing episode",
    "EXPLOITATION_CONCERN": "Exploitation concern",
    "TRAFFICKING_NRM": "Trafficking (NRM)",
    "DOMESTIC_ABUSE_INCIDENT": "Domestic abuse incident",
    "SAFEGUARDING_CONTACT": "Safeguarding contact",
    "HEALTH_SAFEGUARDING_ALERT": "Health safeguarding alert",
    "POLICE_INTELLIGENCE": "Police intelligence",
    "CSC_STATUS_CHANGE": "Children's social care status change",
    "VCS_UPDATE": "Voluntary sector update",
}
"""Notice types that are concerns about a child, in report order, with their plain names.
MASH_DECISION (the MASH's own decision) is not a concern and is not counted."""

AGENCIES: Mapping[str, str] = {
    code: AGENCY_LABELS[code]
    for code in ("POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR", "EDUCATION")
}
"""Sending agencies, in report order. Every column is always shown (zeros included), so a
column's presence says nothing."""

OTHER_AGENCY = "Other or unknown"

OUTCOMES: Mapping[str, str] = {
    "PERMIT": "Shared",
    "PARTIAL": "Partly shared",
    "FLAG_ONLY": "Flag only",
    "DENY": "Not shared",
}


SEXES: Mapping[str, str] = {"F": "Female", "M": "Male"}

NOT_KNOWN = "Not known"
"""The column of children whose age band or sex the child index's records do not settle."""


@dataclass(frozen=True, slots=True)
class ChildCharacteristics:
    """A child's age band (hubkit.age_bands code) in one month and sex, as the child index
    gives them; None when it does not know."""

    age_band: str | None
    sex: str | None


CharacteristicsByMonth = Mapping[tuple[str, str], ChildCharacteristics]
"""(child, month label) -> the child's characteristics that month."""


class Period(StrEnum):
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One sharing decision, as the figures need it (no personal data: the child is a
    pseudonymous key, already mapped to their child)."""

    decided_at: dt.datetime
    notice_id: str
    notice_type: str | None
    child: str | None
    """The child's key (the same for every key of one child); None when not recorded."""
    sender_agency: str | None
    """Agency code of the sending organisation (POLICE, HEALTH, ...); None if unknown."""
    recipient: str | None
    """Subscriber id of the recipient."""
    outcome: str | None
    rule_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RepeatMissingRule:
    """R8's repeat threshold, as the policy data sets it."""

    threshold: int
    window_days: int


def period_label(at: dt.datetime, period: Period) -> str:
    """'2026-11' for a month, ISO '2026-W47' for a week (UTC)."""
    at = at.astimezone(dt.UTC)
    if period is Period.MONTH:
        return f"{at.year:04d}-{at.month:02d}"
    year, week, _ = at.isocalendar()
    return f"{year:04d}-W{week:02d}"


def months_between(start: dt.datetime, end: dt.datetime) -> tuple[str, ...]:
    """Month labels from `start`'s month to the month holding the instant before `end`."""
    last = (end - dt.timedelta(milliseconds=1)).astimezone(dt.UTC)
    year, month = start.astimezone(dt.UTC).year, start.astimezone(dt.UTC).month
    out = []
    while (year, month) <= (last.year, last.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(out)


def _periods_between(start: dt.datetime, end: dt.datetime, period: Period) -> tuple[str, ...]:
    if period is Period.MONTH:
        return months_between(start, end)
    out: list[str] = []
    at = start
    while at < end:
        label = period_label(at, period)
        if label not in out:
            out.append(label)
        at += dt.timedelta(days=1)
    return tuple(out)


def _in_period(
    rows: Iterable[DecisionRow], start: dt.datetime, end: dt.datetime
) -> list[DecisionRow]:
    return [r for r in rows if start <= r.decided_at < end]


def _distinct_children(
    rows: Iterable[DecisionRow],
    months: Sequence[str],
    columns: Sequence[str],
    column_of: Mapping[str, str],
    key: str,
) -> tuple[tuple[int, ...], ...]:
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        value = getattr(row, key)
        if row.child is None or row.notice_type not in CONCERNS:
            continue
        column = column_of.get(value, column_of.get("", ""))
        if column:
            seen[period_label(row.decided_at, Period.MONTH), column].add(row.child)
    return tuple(tuple(len(seen.get((m, c), ())) for c in columns) for m in months)


def children_by_month_and_concern(
    rows: Iterable[DecisionRow], *, start: dt.datetime, end: dt.datetime
) -> CrossTab:
    """Distinct children with a notice of each concern, per month."""
    months = months_between(start, end)
    return CrossTab(
        title="Children with a notice, by month and concern",
        unit="children (a child with notices in two months or of two concerns counts in each)",
        row_label="Month",
        column_label="Concern",
        rows=months,
        columns=tuple(CONCERNS.values()),
        cells=_distinct_children(
            _in_period(rows, start, end), months, tuple(CONCERNS.values()), CONCERNS, "notice_type"
        ),
    )


def children_by_month_and_agency(
    rows: Iterable[DecisionRow], *, start: dt.datetime, end: dt.datetime
) -> CrossTab:
    """Distinct children with a notice from each sending agency, per month."""
    months = months_between(start, end)
    column_of = {**AGENCIES, "": OTHER_AGENCY}
    columns = (*AGENCIES.values(), OTHER_AGENCY)
    normalised = [
        r if r.sender_agency in AGENCIES else _with_agency(r, "")
        for r in _in_period(rows, start, end)
    ]
    return CrossTab(
        title="Children with a notice, by month and sending agency",
        unit="children (a child with notices from two agencies or in two months counts in each)",
        row_label="Month",
        column_label="Sending agency",
        rows=months,
        columns=columns,
        cells=_distinct_children(normalised, months, columns, column_of, "sender_agency"),
    )


def _with_agency(row: DecisionRow, agency: str) -> DecisionRow:
    return DecisionRow(
        decided_at=row.decided_at,
        notice_id=row.notice_id,
        notice_type=row.notice_type,
        child=row.child,
        sender_agency=agency,
        recipient=row.recipient,
        outcome=row.outcome,
        rule_ids=row.rule_ids,
    )


def decisions_by_month_and_outcome(
    rows: Iterable[DecisionRow], *, start: dt.datetime, end: dt.datetime
) -> CrossTab:
    """Sharing decisions (one per notice and recipient) by outcome, per month."""
    months = months_between(start, end)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for row in _in_period(rows, start, end):
        if row.outcome is not None and row.outcome in OUTCOMES and row.notice_type in CONCERNS:
            counts[period_label(row.decided_at, Period.MONTH), row.outcome] += 1
    return CrossTab(
        title="Sharing decisions, by month and outcome",
        unit="sharing decisions (one per notice and recipient)",
        row_label="Month",
        column_label="Outcome",
        rows=months,
        columns=tuple(OUTCOMES.values()),
        cells=tuple(tuple(counts[m, o] for o in OUTCOMES) for m in months),
    )


def repeat_missing_by_month(
    rows: Iterable[DecisionRow],
    *,
    start: dt.datetime,
    end: dt.datetime,
    rule: RepeatMissingRule,
) -> CrossTab:
    """Children who reached R8's repeat threshold of missing-episode notices, per month.
    `rows` should reach back `rule.window_days` before `start`, so earlier notices count."""
    first_seen: dict[str, dt.datetime] = {}
    child_of: dict[str, str] = {}
    for row in rows:
        if row.notice_type != "MISSING_EPISODE" or row.child is None:
            continue
        # One notice has a decision per recipient: a notice is when it was first decided.
        if row.notice_id not in first_seen or row.decided_at < first_seen[row.notice_id]:
            first_seen[row.notice_id] = row.decided_at
        child_of[row.notice_id] = row.child
    by_child: dict[str, list[dt.datetime]] = defaultdict(list)
    for notice_id, at in first_seen.items():
        by_child[child_of[notice_id]].append(at)
    window = dt.timedelta(days=rule.window_days)
    months = months_between(start, end)
    repeat: dict[str, set[str]] = defaultdict(set)
    for child, times in by_child.items():
        times.sort()
        for i, at in enumerate(times):
            within = sum(1 for earlier in times[: i + 1] if at - earlier <= window)
            if within >= rule.threshold and start <= at < end:
                repeat[period_label(at, Period.MONTH)].add(child)
    return CrossTab(
        title=(
            f"Children missing repeatedly ({rule.threshold} or more missing-episode notices "
            f"in {rule.window_days} days, rule R8), by month"
        ),
        unit="children (counted in each month they reached the threshold; notices, not episodes)",
        row_label="Measure",
        column_label="Month",
        rows=("Children missing repeatedly",),
        columns=months,
        cells=(tuple(len(repeat.get(m, ())) for m in months),),
        row_totals=True,
        column_totals=False,
    )


def characteristics_asked(
    rows: Iterable[DecisionRow], *, start: dt.datetime, end: dt.datetime
) -> dict[tuple[str, str], dt.date]:
    """What to ask the child index: for every child with a concern notice in [start, end) and
    every month they had one, the day (UTC) of their first such notice that month."""
    first: dict[tuple[str, str], dt.datetime] = {}
    for row in _in_period(rows, start, end):
        if row.child is None or row.notice_type not in CONCERNS:
            continue
        key = (row.child, period_label(row.decided_at, Period.MONTH))
        if key not in first or row.decided_at < first[key]:
            first[key] = row.decided_at
    return {key: at.astimezone(dt.UTC).date() for key, at in first.items()}


def _age_column(found: ChildCharacteristics | None) -> str:
    band = found.age_band if found else None
    return AGE_BAND_LABELS.get(band or "", NOT_KNOWN)


def _sex_column(found: ChildCharacteristics | None) -> str:
    return SEXES.get((found.sex if found else None) or "", NOT_KNOWN)


def _children_by_month(
    rows: Iterable[DecisionRow],
    characteristics: CharacteristicsByMonth,
    *,
    start: dt.datetime,
    end: dt.datetime,
    columns: Sequence[str],
    column_of: Callable[[ChildCharacteristics | None], str],
) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    months = months_between(start, end)
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for child, month in characteristics_asked(rows, start=start, end=end):
        seen[month, column_of(characteristics.get((child, month)))].add(child)
    return months, tuple(tuple(len(seen.get((m, c), ())) for c in columns) for m in months)


def children_by_month_and_age_band(
    rows: Iterable[DecisionRow],
    characteristics: CharacteristicsByMonth,
    *,
    start: dt.datetime,
    end: dt.datetime,
) -> CrossTab:
    """Distinct children with a concern notice, per month, by their age band that month."""
    columns = (*AGE_BAND_LABELS.values(), NOT_KNOWN)
    months, cells = _children_by_month(
        rows, characteristics, start=start, end=end, columns=columns, column_of=_age_column
    )
    return CrossTab(
        title="Children with a notice, by month and age band",
        unit="children (age in completed years on the day of the child's first notice in the "
        "month; a child counts once a month)",
        row_label="Month",
        column_label="Age band",
        rows=months,
        columns=columns,
        cells=cells,
    )


def children_by_month_and_sex(
    rows: Iterable[DecisionRow],
    characteristics: CharacteristicsByMonth,
    *,
    start: dt.datetime,
    end: dt.datetime,
) -> CrossTab:
    """Distinct children with a concern notice, per month, by sex."""
    columns = (*SEXES.values(), NOT_KNOWN)
    months, cells = _children_by_month(
        rows, characteristics, start=start, end=end, columns=columns, column_of=_sex_column
    )
    return CrossTab(
        title="Children with a notice, by month and sex",
        unit="children (sex as most of the child's agency records give it; a child counts once "
        "a month)",
        row_label="Month",
        column_label="Sex",
        rows=months,
        columns=columns,
        cells=cells,
    )


def children_by_concern_and_age_band(
    rows: Iterable[DecisionRow],
    characteristics: CharacteristicsByMonth,
    *,
    start: dt.datetime,
    end: dt.datetime,
) -> CrossTab:
    """Distinct children with a notice of each concern in the whole period, by their age
    band at their first notice of that concern (exploitation peaks in the teens; neglect and
    domestic abuse reach younger children)."""
    first: dict[tuple[str, str], dt.datetime] = {}
    for row in _in_period(rows, start, end):
        if row.child is None or row.notice_type is None or row.notice_type not in CONCERNS:
            continue
        key = (row.child, row.notice_type)
        if key not in first or row.decided_at < first[key]:
            first[key] = row.decided_at
    columns = (*AGE_BAND_LABELS.values(), NOT_KNOWN)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for (child, concern), at in first.items():
        found = characteristics.get((child, period_label(at, Period.MONTH)))
        counts[concern, _age_column(found)] += 1
    return CrossTab(
        title="Children with a notice, by concern and age band, over the whole period",
        unit="children (age at the child's first notice of the concern in the period; a child "
        "with notices of two concerns counts under each)",
        row_label="Concern",
        column_label="Age band",
        rows=tuple(CONCERNS.values()),
        columns=columns,
        cells=tuple(tuple(counts[c, a] for a in columns) for c in CONCERNS),
    )


def prevalence_tables(
    rows: Sequence[DecisionRow],
    *,
    start: dt.datetime,
    end: dt.datetime,
    repeat_rule: RepeatMissingRule,
    characteristics: CharacteristicsByMonth | None = None,
) -> dict[str, CrossTab]:
    """Every prevalence table, by file stem; the age band and sex tables only when the child
    index gave `characteristics` (characteristics_asked says for what)."""
    by_characteristics = (
        {}
        if characteristics is None
        else {
            "children_by_month_and_age_band": children_by_month_and_age_band(
                rows, characteristics, start=start, end=end
            ),
            "children_by_month_and_sex": children_by_month_and_sex(
                rows, characteristics, start=start, end=end
            ),
            "children_by_concern_and_age_band": children_by_concern_and_age_band(
                rows, characteristics, start=start, end=end
            ),
        }
    )
    return {
        "children_by_month_and_concern": children_by_month_and_concern(rows, start=start, end=end),
        "children_by_month_and_agency": children_by_month_and_agency(rows, start=start, end=end),
        "decisions_by_month_and_outcome": decisions_by_month_and_outcome(
            rows, start=start, end=end
        ),
        **by_characteristics,
        "repeat_missing_by_month": repeat_missing_by_month(
            rows, start=start, end=end, rule=repeat_rule
        ),
    }


@dataclass(frozen=True, slots=True)
class MixCount:
    period: str
    group: str
    """A recipient's subscriber id, or a rule id."""
    outcome: str
    decisions: int


@dataclass(frozen=True, slots=True)
class DecisionMix:
    """Outcomes over time by recipient and by rule: an IG officer's own view of the log,
    not a publication, so counts are exact (no suppression)."""

    period: Period
    periods: tuple[str, ...]
    by_recipient: tuple[MixCount, ...]
    by_rule: tuple[MixCount, ...]
    """A decision counts once under every rule that fired for it."""


def decision_mix(
    rows: Iterable[DecisionRow], *, start: dt.datetime, end: dt.datetime, period: Period
) -> DecisionMix:
    recipients: dict[tuple[str, str, str], int] = defaultdict(int)
    rules: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in _in_period(rows, start, end):
        label = period_label(row.decided_at, period)
        outcome = row.outcome or "NONE"
        recipients[label, row.recipient or "unknown", outcome] += 1
        for rule_id in row.rule_ids or ("none",):
            rules[label, rule_id, outcome] += 1

    def listed(counts: Mapping[tuple[str, str, str], int]) -> tuple[MixCount, ...]:
        return tuple(
            MixCount(period=p, group=g, outcome=o, decisions=n)
            for (p, g, o), n in sorted(
                counts.items(), key=lambda kv: (kv[0][0], _rule_order(kv[0][1]), kv[0][2])
            )
        )

    return DecisionMix(
        period=period,
        periods=_periods_between(start, end, period),
        by_recipient=listed(recipients),
        by_rule=listed(rules),
    )


def _rule_order(group: str) -> tuple[int, str]:
    """R2 before R10; subscriber ids alphabetically."""
    if group[:1] == "R" and group[1:].isdigit():
        return int(group[1:]), group
    return 10**6, group
