"""The prevalence figures and the decision mix over the IG API (issue 17), against a real
SQLite audit store under real uvicorn: what is suppressed on the page stays suppressed in the
served CSV and HTML, a caller without a token or the role is refused, every query is logged
before it runs (a malformed one too), and bad dates are a 400 saying what to write."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.audit.api import create_app
from services.audit.child_lookup import NoChildLookup
from services.audit.disclosure import SUPPRESSED, DisclosureRules
from services.audit.figures import (
    prevalence_report,
    read_decision_rows,
    repeat_missing_rule,
    sender_agencies,
)
from services.audit.indexer import EntryKind, decode_access
from services.audit.settings import AuditSettings
from services.audit.storage_sql import SqlAuditStore, open_store
from services.hubkit.settings import HubSettings
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.records import audit_records, encode, logged
from tests.audit.serve import serve
from tests.factories import POLICIES, catalog, notices

CATALOG = catalog()
START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
PERIOD = {"from": "2026-09-01", "to": "2026-12-01"}


def _append(store: Any, notice: dict[str, Any], at: dt.datetime, offset: int) -> int:
    entries = [
        logged(encode(CATALOG, r), offset=offset + k)
        for k, r in enumerate(audit_records(notice, decided_at=at))
    ]
    store.append(entries, appended_at_ms=0)
    return offset + len(entries)


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    """Six children with an exploitation concern in October (published), one child missing
    four times in 90 days (small counts: suppressed, and the six's cell with them)."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    synthetic = notices(seed=3)
    offset = 0
    for day in range(6):
        at = dt.datetime(2026, 10, 1 + day, 9, tzinfo=dt.UTC)
        offset = _append(store, synthetic.notice("EXPLOITATION_CONCERN"), at, offset)
    child = synthetic.child()
    for at in (
        dt.datetime(2026, 9, 10, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 20, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 5, tzinfo=dt.UTC),
    ):
        offset = _append(store, synthetic.notice("MISSING_EPISODE", child=child), at, offset)
    store.close()
    return url


def _leaves(url: str) -> Any:
    store = open_store(url)
    try:
        return store.leaves(0, 100_000)
    finally:
        store.close()


def _last_access(url: str) -> dict[str, Any]:
    leaf = _leaves(url)[-1]
    assert leaf.kind is EntryKind.ACCESS
    return decode_access(leaf.data)


@pytest.fixture
def server(idp: LocalIdp, log_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = AuditSettings(
        database_url=log_url, jwks_url=idp.jwks_url, token_issuer=ISSUER, token_audience=AUDIENCE
    )
    app = create_app(settings, HubSettings(data_dir=tmp_path), child_lookup=NoChildLookup())
    with serve(app) as http:
        yield http


@pytest.fixture
def client(server: httpx.Client, idp: LocalIdp) -> httpx.Client:
    server.headers["Authorization"] = f"Bearer {idp.token()}"
    return server


def _protected(url: str) -> Any:
    """The tables as the disclosure control publishes them, computed beside the API."""
    store = open_store(url)
    assert isinstance(store, SqlAuditStore)
    try:
        rule = repeat_missing_rule(POLICIES)
        rows = read_decision_rows(
            store,
            CATALOG,
            start=START - dt.timedelta(days=rule.window_days),
            end=END,
            agencies=sender_agencies(POLICIES),
        )
    finally:
        store.close()
    return prevalence_report(
        rows, start=START, end=END, repeat_rule=rule, rules=DisclosureRules(), generated_at=END
    ).tables


def test_suppressed_cells_stay_suppressed_in_the_served_csv_and_page(
    client: httpx.Client, log_url: str
) -> None:
    tables = _protected(log_url)
    page = client.get("/v1/figures/prevalence", params=PERIOD)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "<svg" in page.text
    hidden = 0
    for stem, published in tables.items():
        response = client.get(
            "/v1/figures/prevalence", params={**PERIOD, "format": "csv", "table": stem}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        lines = [line.split(",") for line in response.text.splitlines()]
        for i, j in published.suppressed:
            # Row i of the table is line i + 1 (after the header); column j is field j + 1.
            assert lines[i + 1][j + 1] == SUPPRESSED, (stem, i, j)
            hidden += 1
        # The page's table shows the same published cells, row by row.
        flat = page.text.replace("\n", "")
        for row in lines[1:]:
            cells = "".join(f"<td>{v}</td>" for v in row[1:])
            assert f'<th scope="row">{row[0]}</th>{cells}' in flat, (stem, row)
        assert f"{published.table.title}" in page.text
    assert hidden >= 4
    repeat = client.get(
        "/v1/figures/prevalence",
        params={**PERIOD, "format": "csv", "table": "repeat_missing_by_month"},
    )
    assert repeat.text.splitlines() == [
        "Measure,2026-09,2026-10,2026-11,Total",
        "Children missing repeatedly,0,[c],[c],[c]",
    ]
    assert "Children missing repeatedly</th><td>0</td><td>[c]</td><td>[c]</td><td>[c]</td>" in (
        page.text.replace("\n", "")
    )


def test_the_api_never_lowers_the_threshold(client: httpx.Client) -> None:
    response = client.get("/v1/figures/prevalence", params={**PERIOD, "threshold": "1"})
    assert response.status_code == 400
    assert "at least 5" in response.json()["detail"]


def test_the_decision_mix_is_served_as_page_and_csv(client: httpx.Client) -> None:
    page = client.get("/v1/figures/decision-mix", params={**PERIOD, "period": "week"})
    assert page.status_code == 200, page.text
    assert "Outcomes by recipient" in page.text
    assert "<svg" in page.text
    response = client.get(
        "/v1/figures/decision-mix",
        params={**PERIOD, "format": "csv", "table": "decision_mix_by_recipient"},
    )
    assert response.status_code == 200, response.text
    assert 'filename="decision_mix_by_recipient.csv"' in response.headers["content-disposition"]
    counts = {
        tuple(line.split(",")[:3]): int(line.split(",")[3])
        for line in response.text.splitlines()[1:]
    }
    assert counts["2026-10", "return-interview-provider", "DENY"] == 6 + 2
    assert counts["2026-10", "mash-manager", "PERMIT"] == 8


def test_every_query_is_logged_before_it_runs_with_its_parameters(
    client: httpx.Client, log_url: str
) -> None:
    before = len(_leaves(log_url))
    response = client.get(
        "/v1/figures/prevalence",
        params={**PERIOD, "format": "csv", "table": "children_by_month_and_agency"},
    )
    assert response.status_code == 200
    assert len(_leaves(log_url)) == before + 1
    entry = _last_access(log_url)
    assert entry["action"] == "figures_prevalence"
    assert entry["allowed"] is True
    assert entry["parameters"] == {
        "from": "2026-09-01T00:00:00",
        "to": "2026-12-01T00:00:00",
        "format": "csv",
        "table": "children_by_month_and_agency",
    }
    assert response.headers["X-Audit-Access-Leaf"] == str(before)
    # A malformed query is logged too, then refused.
    bad = client.get("/v1/figures/decision-mix", params={"from": "2026-13-01", "to": "x"})
    assert bad.status_code == 400
    assert _last_access(log_url)["action"] == "figures_decision_mix"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({}, "give 'from' as a date"),
        ({"from": "2026-13-01", "to": "2026-12-01"}, "'from' is not a date"),
        ({"from": "2026-09-01", "to": "1 Dec"}, "'to' is not a date"),
        ({"from": "2026-12-01", "to": "2026-12-01"}, "'to' must be after 'from'"),
        ({"from": "2020-01-01", "to": "2026-12-01"}, "at most"),
        ({**PERIOD, "format": "xlsx"}, "html or csv"),
        ({**PERIOD, "format": "csv"}, "children_by_month_and_concern"),
        ({**PERIOD, "format": "csv", "table": "nope"}, "repeat_missing_by_month"),
        ({**PERIOD, "round_to": "0"}, "'round_to'"),
    ],
)
def test_a_bad_request_is_a_400_saying_what_to_write(
    client: httpx.Client, params: dict[str, str], says: str
) -> None:
    response = client.get("/v1/figures/prevalence", params=params)
    assert response.status_code == 400, response.text
    assert says in response.json()["detail"]


def test_a_bad_period_for_the_mix_is_a_400(client: httpx.Client) -> None:
    response = client.get("/v1/figures/decision-mix", params={**PERIOD, "period": "day"})
    assert response.status_code == 400
    assert "week or month" in response.json()["detail"]


def test_callers_without_a_token_or_the_role_are_refused(
    server: httpx.Client, idp: LocalIdp, log_url: str
) -> None:
    for path in ("/v1/figures/prevalence", "/v1/figures/decision-mix"):
        response = server.get(path, params={**PERIOD, "format": "csv", "table": "x"})
        assert response.status_code == 401, path
        assert "[c]" not in response.text
        # A browser without a session is sent to sign in, not shown the figures.
        browser = server.get(path, params=PERIOD, headers={"Accept": "text/html"})
        assert browser.status_code in (302, 303, 307), path
        assert "/ig/sign-in" in browser.headers["location"]
    before = len(_leaves(log_url))
    wrong_role = server.get(
        "/v1/figures/prevalence",
        params=PERIOD,
        headers={"Authorization": f"Bearer {idp.token(roles=['MASH_MANAGER'])}"},
    )
    assert wrong_role.status_code == 403
    assert "<svg" not in wrong_role.text
    assert len(_leaves(log_url)) == before + 1
    refused = _last_access(log_url)
    assert refused["action"] == "figures_prevalence"
    assert refused["allowed"] is False
