"""Prevalence figures by age band and sex (issue 17): the audit log holds neither, so the IG
API asks the real child index (in process, with the identity provider in process) as its own
client `audit-childindex`, registered as `safehub audit api` and `safehub demo` register it.

Twelve synthetic children are keyed through the index as an adapter keys them: six girls of
14, five boys of 7, and one child two agencies record with different sexes (a tie: "Not
known"). Each has an exploitation concern in October. The index answers with bands and sexes
only, never a date of birth; the served tables count them and suppress the small cells."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.audit.api import create_app
from services.audit.child_lookup import (
    ChildLookupSettings,
    HttpChildLookup,
    NoChildLookup,
    child_lookup_from_settings,
)
from services.audit.disclosure import SUPPRESSED, DisclosureRules, protect
from services.audit.figures import read_characteristics, read_decision_rows, sender_agencies
from services.audit.prevalence import (
    NOT_KNOWN,
    children_by_concern_and_age_band,
    children_by_month_and_age_band,
    children_by_month_and_sex,
)
from services.audit.settings import AuditSettings
from services.audit.storage_sql import SqlAuditStore, open_store
from services.childindex.secret import provision_linkage_secret
from services.cli.ig import register_ig_clients
from services.hubkit.auth import CHILD_SEARCH_SCOPE, RESOLVE_CHILDREN_SCOPE
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.linkage import is_valid_nhs_number
from services.hubkit.settings import HubSettings
from services.identity.clients import ensure_service_client
from services.identity.settings import IdentitySettings
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.records import audit_records, encode, logged
from tests.childindex.inprocess import index_and_identity
from tests.factories import POLICIES, catalog, notices

INDEX = "http://childindex.test"
AUDIT = "http://audit.test"
CATALOG = catalog()
START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
PERIOD = {"from": "2026-09-01", "to": "2026-12-01"}
GIVEN = ("Ava", "Bea", "Cleo", "Dora", "Edie", "Faye")
FAMILY = ("Testwood", "Testmoor", "Testdale", "Testholm", "Testford", "Testbury")


def _nhs_numbers() -> list[str]:
    """Synthetic NHS numbers that pass the modulus-11 check."""
    return [
        n for n in (f"94{i:08d}" for i in range(3_000_000, 3_000_400)) if is_valid_nhs_number(n)
    ]


def _children() -> list[list[dict[str, Any]]]:
    """Each child's records, as adapters hold them."""
    nhs = iter(_nhs_numbers())
    girls = [
        [
            {
                "nhs_number": next(nhs),
                "given_name": GIVEN[i],
                "family_name": FAMILY[i],
                "date_of_birth": f"2012-0{i + 1}-1{i}",
                "sex": "F",
            }
        ]
        for i in range(6)
    ]
    boys = [
        [
            {
                "nhs_number": next(nhs),
                "given_name": ("Abe", "Ben", "Cal", "Dan", "Eli")[i],
                "family_name": FAMILY[i],
                "date_of_birth": f"2019-0{i + 1}-2{i}",
                "sex": "M",
            }
        ]
        for i in range(5)
    ]
    shared = next(nhs)
    # Two agencies, one child, two sexes recorded: neither is the child's.
    tied = [
        {"nhs_number": shared, "given_name": "Kit", "family_name": "Testvale",
         "date_of_birth": "2010-01-05", "sex": "F"},
        {"nhs_number": shared, "given_name": "Kit", "family_name": "Testvale",
         "date_of_birth": "2010-01-05", "sex": "M"},
    ]  # fmt: skip
    return [*girls, *boys, tied]


def _log_concerns(url: str, keys: list[str]) -> None:
    store = open_store(url)
    synthetic = notices(seed=5)
    offset = 0
    try:
        for day, key in enumerate(keys):
            notice = synthetic.notice("EXPLOITATION_CONCERN")
            notice["subject"]["linkage_key"] = key
            at = dt.datetime(2026, 10, 1 + day, 9, tzinfo=dt.UTC)
            entries = [
                logged(encode(CATALOG, r), offset=offset + k)
                for k, r in enumerate(audit_records(notice, decided_at=at))
            ]
            store.append(entries, appended_at_ms=0)
            offset += len(entries)
    finally:
        store.close()


def _rows(url: str) -> Any:
    store = open_store(url)
    assert isinstance(store, SqlAuditStore)
    try:
        return read_decision_rows(
            store, CATALOG, start=START, end=END, agencies=sender_agencies(POLICIES)
        )
    finally:
        store.close()


async def test_figures_by_age_band_and_sex_come_from_the_child_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, idp: LocalIdp
) -> None:
    for name in ("SAFEHUB_IDENTITY_ISSUER", "SAFEHUB_IDENTITY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    hub = HubSettings(data_dir=tmp_path)
    provision_linkage_secret(hub.keys_dir / "linkage.secret")
    identity = IdentitySettings()
    register_ig_clients(hub, AuditSettings(token_issuer=identity.issuer))
    keys_dir = tmp_path / "adapters"
    for client_id, scope in (
        ("adapter-health", RESOLVE_CHILDREN_SCOPE),
        ("searcher", CHILD_SEARCH_SCOPE),
    ):
        ensure_service_client(
            state_dir=identity.resolved_state_dir(tmp_path),
            private_key_path=keys_dir / f"{client_id}.pem",
            client_id=client_id,
            agency="HEALTH",
            scopes=(scope,),
        )
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    async with index_and_identity(
        hub, store_path=tmp_path / "index.sqlite", index_url=INDEX
    ) as http:

        def client(client_id: str, scope: str) -> ClientCredentials:
            return ClientCredentials(
                http=http,
                token_endpoint=f"{identity.issuer}/token",
                client_id=client_id,
                private_key_path=keys_dir / f"{client_id}.pem",
                scope=scope,
            )

        health = client("adapter-health", RESOLVE_CHILDREN_SCOPE)
        keys = []
        for records in _children():
            resolved = [
                await http.post(
                    f"{INDEX}/v1/children/resolve",
                    json=record,
                    headers={"Authorization": f"Bearer {await health.token()}"},
                )
                for record in records
            ]
            assert all(r.status_code == 200 for r in resolved), [r.text for r in resolved]
            assert len({r.json()["child_key"] for r in resolved}) == 1
            keys.append(resolved[0].json()["child_key"])
        assert len(set(keys)) == 12
        _log_concerns(url, keys)

        # Least privilege: a client with another of the index's scopes may not read profiles,
        # and the index never answers with a date of birth.
        searcher = client("searcher", CHILD_SEARCH_SCOPE)
        refused = await http.post(
            f"{INDEX}/v1/children/profiles",
            json={"children": [{"child_key": keys[0], "on": "2026-10-01"}]},
            headers={"Authorization": f"Bearer {await searcher.token()}"},
        )
        assert refused.status_code == 403

        lookup = child_lookup_from_settings(
            ChildLookupSettings(url=INDEX), hub, token_issuer=identity.issuer, http=http
        )
        assert isinstance(lookup, HttpChildLookup)
        rows = _rows(url)
        known = await read_characteristics(lookup, rows, start=START, end=END)
        assert known.unavailable is None
        assert known.by_month is not None
        by_child = {child: (c.age_band, c.sex) for (child, _), c in known.by_month.items()}
        assert [by_child[k] for k in keys] == [("10_15", "F")] * 6 + [("5_9", "M")] * 5 + [
            ("16_PLUS", None)
        ]
        sexes = children_by_month_and_sex(rows, known.by_month, start=START, end=END)
        assert sexes.columns == ("Female", "Male", NOT_KNOWN)
        assert sexes.cells == ((0, 0, 0), (6, 5, 1), (0, 0, 0))
        ages = children_by_month_and_age_band(rows, known.by_month, start=START, end=END)
        assert ages.cells[1] == (0, 0, 5, 6, 1, 0)
        by_concern = children_by_concern_and_age_band(rows, known.by_month, start=START, end=END)
        exploitation = by_concern.rows.index("Exploitation concern")
        assert by_concern.cells[exploitation] == (0, 0, 5, 6, 1, 0)
        assert sum(map(sum, by_concern.cells)) == 12

        app = create_app(
            AuditSettings(
                database_url=url,
                jwks_url=idp.jwks_url,
                token_issuer=ISSUER,
                token_audience=AUDIENCE,
            ),
            hub,
            child_lookup=lookup,
        )
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=AUDIT) as audit,
        ):
            audit.headers["Authorization"] = f"Bearer {idp.token()}"
            page = await audit.get("/v1/figures/prevalence", params=PERIOD)
            assert page.status_code == 200, page.text
            assert "Children with a notice, by month and sex" in page.text
            assert "No figures by age band or sex" not in page.text
            served = await audit.get(
                "/v1/figures/prevalence",
                params={**PERIOD, "format": "csv", "table": "children_by_month_and_sex"},
            )
            assert served.status_code == 200, served.text
            lines = served.text.splitlines()
            assert lines[0] == "Month,Female,Male,Not known,Total"
            october = lines[2].split(",")
            # The one child of unknown sex is a small cell, and Male goes with it: otherwise
            # the total would give it away.
            assert october[0] == "2026-10"
            assert october[3] == SUPPRESSED
            assert october[2] == SUPPRESSED
            published = protect(sexes, DisclosureRules())
            assert served.text.splitlines() == [",".join(r) for r in published.csv_rows()]
            # Nothing about a child beyond band and sex reaches the page.
            for records in _children():
                for record in records:
                    assert record["date_of_birth"] not in page.text
                    assert record["given_name"] not in page.text


def test_without_the_index_the_report_says_why_and_leaves_the_tables_out(
    tmp_path: Path, idp: LocalIdp
) -> None:
    from tests.audit.serve import serve

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    _log_concerns(url, ["ab" * 32])
    app = create_app(
        AuditSettings(
            database_url=url, jwks_url=idp.jwks_url, token_issuer=ISSUER, token_audience=AUDIENCE
        ),
        HubSettings(data_dir=tmp_path),
        child_lookup=NoChildLookup(),
    )
    with serve(app) as http:
        http.headers["Authorization"] = f"Bearer {idp.token()}"
        page = http.get("/v1/figures/prevalence", params=PERIOD)
        assert page.status_code == 200
        assert "No figures by age band or sex" in page.text
        assert "no child index is configured" in page.text
        missing = http.get(
            "/v1/figures/prevalence",
            params={**PERIOD, "format": "csv", "table": "children_by_month_and_sex"},
        )
        assert missing.status_code == 400
