"""Prevalence figures and the decision mix from a real SQLite audit store: decisions the
gateway would write, appended as the indexer appends them, read back, counted and drawn."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from services.audit.disclosure import SUPPRESSED, DisclosureRules, recoverable
from services.audit.figures import (
    decision_mix_report,
    prevalence_report,
    read_decision_rows,
    repeat_missing_rule,
    sender_agencies,
    write_files,
)
from services.audit.prevalence import Period
from services.audit.storage_sql import SqlAuditStore
from services.cli.main import main
from tests.audit.records import audit_records, encode, logged
from tests.factories import POLICIES, catalog, notices

CATALOG = catalog()
START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _append(store: SqlAuditStore, notice: dict, at: dt.datetime, offset: int) -> int:  # type: ignore[type-arg]
    entries = [
        logged(encode(CATALOG, r), offset=offset + k)
        for k, r in enumerate(audit_records(notice, decided_at=at))
    ]
    store.append(entries, appended_at_ms=0)
    return offset + len(entries)


def _fill(store: SqlAuditStore) -> None:
    synthetic = notices(seed=3)
    offset = 0
    # Six children with an exploitation concern in October: published as counted.
    for day in range(6):
        at = dt.datetime(2026, 10, 1 + day, 9, tzinfo=dt.UTC)
        offset = _append(store, synthetic.notice("EXPLOITATION_CONCERN"), at, offset)
    # One child missing four times within 90 days (Sept to Nov): repeat missing, and a
    # small count that must be suppressed.
    child = synthetic.child()
    for at in (
        dt.datetime(2026, 9, 10, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 20, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 5, tzinfo=dt.UTC),
    ):
        offset = _append(store, synthetic.notice("MISSING_EPISODE", child=child), at, offset)
    # Outside the period: not counted.
    _append(
        store, synthetic.notice("TRAFFICKING_NRM"), dt.datetime(2026, 12, 2, tzinfo=dt.UTC), offset
    )


def test_prevalence_from_the_store_counts_children_and_suppresses_small_counts(
    sqlite_store: SqlAuditStore, tmp_path: Path
) -> None:
    _fill(sqlite_store)
    rule = repeat_missing_rule(POLICIES)
    assert (rule.threshold, rule.window_days) == (3, 90)
    rows = read_decision_rows(
        sqlite_store,
        CATALOG,
        start=START - dt.timedelta(days=rule.window_days),
        end=END,
        agencies=sender_agencies(POLICIES),
    )
    assert len({r.notice_id for r in rows}) == 10
    report = prevalence_report(
        rows,
        start=START,
        end=END,
        repeat_rule=rule,
        rules=DisclosureRules(),
        generated_at=END,
    )
    concern = report.tables["children_by_month_and_concern"]
    months = concern.table.rows
    assert months == ("2026-09", "2026-10", "2026-11")
    column = concern.table.columns.index("Exploitation concern")
    # Six children, counted once each although each notice has six decisions.
    assert concern.table.cells[1][column] == 6
    # October's one missing child needs a partner in its row: the next smallest is the six.
    assert concern.cells[1][column] == SUPPRESSED
    assert (1, column) not in concern.primary
    assert recoverable(concern.table, concern.suppressed) == []
    missing = concern.table.columns.index("Missing episode")
    assert [concern.table.cells[i][missing] for i in range(3)] == [1, 1, 1]
    assert all(concern.cells[i][missing] == SUPPRESSED for i in range(3))
    assert "Trafficking (NRM)" in concern.table.columns
    assert (
        sum(
            concern.table.cells[i][concern.table.columns.index("Trafficking (NRM)")]
            for i in range(3)
        )
        == 0
    )

    repeat = report.tables["repeat_missing_by_month"]
    # Third notice on 20 Oct, fourth on 5 Nov: one child in each of those months.
    assert repeat.table.cells == ((0, 1, 1),)
    assert repeat.cells == (("0", SUPPRESSED, SUPPRESSED),)

    agency = report.tables["children_by_month_and_agency"].table
    assert sum(sum(r) for r in agency.cells) == 6 + 3
    assert "Other or unknown" in agency.columns

    outcome = report.tables["decisions_by_month_and_outcome"].table
    assert sum(sum(r) for r in outcome.cells) == 10 * 6  # six recipients; December not read

    written = write_files(tmp_path / "out", "prevalence.html", report.html, report.csv_files())
    names = {p.name for p in written}
    assert {"prevalence.html", "children_by_month_and_concern.csv"} <= names
    csv_text = (tmp_path / "out" / "repeat_missing_by_month.csv").read_text()
    assert csv_text.splitlines() == [
        "Measure,2026-09,2026-10,2026-11,Total",
        "Children missing repeatedly,0,[c],[c],[c]",
    ]
    assert "<svg" in report.html
    assert 'lang="en"' in report.html
    # Not handed the child index's answers: no age band or sex tables, and the page says so.
    assert "No figures by age band or sex" in report.html
    assert "children_by_month_and_sex" not in report.tables


def test_decision_mix_from_the_store_by_recipient_and_rule(sqlite_store: SqlAuditStore) -> None:
    _fill(sqlite_store)
    rows = read_decision_rows(
        sqlite_store, CATALOG, start=START, end=END, agencies=sender_agencies(POLICIES)
    )
    report = decision_mix_report(rows, start=START, end=END, period=Period.MONTH, generated_at=END)
    by_recipient = {(c.period, c.group, c.outcome): c.decisions for c in report.mix.by_recipient}
    assert by_recipient["2026-10", "return-interview-provider", "DENY"] == 6 + 2
    assert by_recipient["2026-10", "mash-manager", "PERMIT"] == 8
    by_rule = {(c.period, c.group, c.outcome): c.decisions for c in report.mix.by_rule}
    assert by_rule["2026-11", "R14", "PARTIAL"] == 1
    assert by_rule["2026-11", "R14", "FLAG_ONLY"] == 1
    files = report.csv_files()
    assert files["decision_mix_by_rule.csv"].splitlines()[0] == "month,rule,outcome,decisions"
    assert report.html.count("<svg") == len({c.group for c in report.mix.by_recipient}) + len(
        {c.group for c in report.mix.by_rule}
    )


def test_the_cli_writes_the_prevalence_and_decision_mix_files(
    sqlite_store: SqlAuditStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(sqlite_store)
    url = sqlite_store.engine.url.render_as_string(hide_password=False)
    out = tmp_path / "figures"
    common = ["--from", "2026-09-01", "--to", "2026-12-01", "--database-url", url]
    assert main(["audit", "prevalence", *common, "--out", str(out), "--round-to", "5"]) == 0
    assert "value(s) suppressed" in capsys.readouterr().out
    assert (out / "prevalence.html").exists()
    rows = (out / "children_by_month_and_concern.csv").read_text().splitlines()
    assert rows[0].startswith("Month,Missing episode,")
    assert main(["audit", "decision-mix", *common, "--out", str(out), "--period", "week"]) == 0
    assert (out / "decision_mix_by_recipient.csv").read_text().startswith("week,recipient,")


def test_the_cli_explains_a_bad_date_and_an_empty_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "prevalence", "--from", "April", "--to", "2026-12-01", "--out", "x"])
    assert "YYYY-MM-DD" in capsys.readouterr().err
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    args = [
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-01",
        "--out",
        str(tmp_path),
        "--database-url",
        url,
    ]
    assert main(["audit", "prevalence", *args]) == 2
    assert "--to must be after --from" in capsys.readouterr().err
