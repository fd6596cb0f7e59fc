"""The lookup API over HTTP, wired by the real bootstrap with a real store; the broker is
replaced by a fake notice sink and the identity provider by a test key (the real ones are
exercised in tests/cpis/integration)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.cpis.api import create_app
from services.cpis.bootstrap import running_cpis
from services.cpis.domain.access import ACCESS_HISTORY
from services.cpis.domain.register import PlanType
from services.cpis.service import CpisRuntime
from services.cpis.settings import CpisSettings
from services.hubkit.settings import HubSettings
from tests.cpis.factories import ISSUER, NHS_NUMBER, TokenMint, plan_change

NOW = dt.datetime(2026, 11, 20, 22, 30, tzinfo=dt.UTC)
URL = f"/cpis/children/{NHS_NUMBER}"


class FakeSink:
    """Stands in for the signed publisher: remembers what it was asked to publish."""

    def __init__(self) -> None:
        self.published: list[Mapping[str, Any]] = []
        self.failing = False

    async def publish(self, notice: Mapping[str, Any]) -> str:
        if self.failing:
            raise ConnectionError("broker down")
        self.published.append(notice)
        return str(notice["notice_id"])


@dataclass
class Api:
    http: httpx.AsyncClient
    runtime: CpisRuntime
    sink: FakeSink
    mint: TokenMint
    db: Path
    ids: list[str] = field(default_factory=list)

    async def get(self, url: str = URL, *, token: str | None = "clinician", **params: str) -> Any:
        headers = {}
        if token == "clinician":
            token = self.mint.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await self.http.get(url, params=params, headers=headers)

    def accesses(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as db:
            return db.execute(
                "SELECT outcome, child_ref IS NOT NULL, setting, organisation, actor "
                "FROM accesses ORDER BY at_ms"
            ).fetchall()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    mint, sink = TokenMint(), FakeSink()
    hub = HubSettings(data_dir=tmp_path)
    settings = CpisSettings(token_issuer=ISSUER, outbox_retry_s=0.05, notify_timeout_s=0.5)
    counter = iter(range(10**6))
    app = create_app(
        lambda: running_cpis(
            hub,
            settings,
            validator=mint.validator(),
            sink=sink,
            follow=False,
            clock=lambda: NOW,
            new_id=lambda: f"access-{next(counter)}",
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cpis.test") as http:
            yield Api(http, app.state.runtime, sink, mint, tmp_path / "cpis" / "register.db")


def _seed(api: Api, **kwargs: Any) -> None:
    api.runtime.store.apply(plan_change(**kwargs), now_ms=0)


async def test_a_clinician_sees_only_the_cpis_minimum_and_the_la_is_notified(api: Api) -> None:
    _seed(api, effective=dt.date(2026, 6, 1))
    answer = await api.get(setting="ED")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body == {
        "nhs_number": NHS_NUMBER,
        "plans": [
            {
                "plan_type": "CHILD_PROTECTION_PLAN",
                "plan_start": "2026-06-01",
                "plan_end": None,
                "responsible_la_contact": "Duty social worker, Synthetic Borough Children's "
                "Services, 0300 000 0004",
            }
        ],
        "accesses": [
            {
                "accessed_at": "2026-11-20T22:30:00Z",
                "setting": "ED",
                "organisation": "NHS-RXX00",
                "organisation_name": "Synthetic NHS Trust",
            }
        ],
    }
    (notice,) = api.sink.published
    assert notice["source"]["agency"] == "CPIS"
    assert notice["subject"]["nhs_number"] == NHS_NUMBER
    assert notice["detail"]["unscheduled_care"] is True
    assert notice["detail"]["cpis_flag"]["plan_type"] == "CHILD_PROTECTION_PLAN"
    assert api.runtime.store.pending_notifications(limit=10) == []
    assert api.accesses() == [("HIT", 1, "ED", "NHS-RXX00", "clinician-1")]


async def test_the_history_shows_the_last_25_accesses(api: Api) -> None:
    _seed(api)
    for _ in range(ACCESS_HISTORY + 2):
        answer = await api.get(setting="MIU")
    assert len(answer.json()["accesses"]) == ACCESS_HISTORY
    assert len(api.sink.published) == ACCESS_HISTORY + 2  # every access notifies


async def test_no_plan_is_a_404_that_says_nothing_and_notifies_nobody(api: Api) -> None:
    answer = await api.get(setting="ED")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not Found"}
    assert api.sink.published == []
    assert api.accesses() == [("MISS", 0, "ED", "NHS-RXX00", "clinician-1")]


async def test_a_plan_ended_over_a_year_ago_is_not_held(api: Api) -> None:
    _seed(api, notice_id="s", effective=dt.date(2024, 1, 1))
    _seed(api, notice_id="e", starts=False, effective=dt.date(2025, 11, 1))
    assert (await api.get(setting="ED")).status_code == 404


async def test_an_ended_plan_within_the_year_shows_its_end(api: Api) -> None:
    _seed(api, notice_id="s", effective=dt.date(2025, 1, 1))
    _seed(api, notice_id="e", starts=False, effective=dt.date(2026, 3, 1))
    _seed(api, notice_id="l", plan_type=PlanType.LOOKED_AFTER, effective=dt.date(2026, 4, 1))
    plans = (await api.get(setting="ED")).json()["plans"]
    assert [(p["plan_type"], p["plan_end"]) for p in plans] == [
        ("LOOKED_AFTER", None),
        ("CHILD_PROTECTION_PLAN", "2026-03-01"),
    ]


async def test_the_token_is_checked_before_the_request(api: Api) -> None:
    for token in (None, "not-a-jwt", api.mint.token(audience="safehub-console")):
        answer = await api.get("/cpis/children/12345", token=token)  # bad number, no setting
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert api.accesses() == []


async def test_someone_who_is_not_an_unscheduled_care_clinician_is_refused_and_recorded(
    api: Api,
) -> None:
    _seed(api)
    token = api.mint.token(roles=["MASH_MANAGER"], organisation="LA-E09000099", subject="mgr")
    answer = await api.get("/cpis/children/12345", token=token)  # nothing of it is read
    assert answer.status_code == 403
    assert "UNSCHEDULED_CARE_CLINICIAN" in answer.json()["detail"]
    assert api.sink.published == []
    assert api.accesses() == [("REFUSED", 0, None, "LA-E09000099", "mgr")]


async def test_a_clinician_token_must_name_the_organisation(api: Api) -> None:
    answer = await api.get(setting="ED", token=api.mint.token(organisation=None))
    assert answer.status_code == 403
    assert "organisation" in answer.json()["detail"]


async def test_an_invalid_nhs_number_is_a_clear_422(api: Api) -> None:
    answer = await api.get("/cpis/children/9990000019", setting="ED")
    assert answer.status_code == 422
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == ["path", "nhs_number"]
    assert "modulus-11" in problem["msg"]
    assert api.accesses() == []


@pytest.mark.parametrize(
    ("setting", "words"),
    [("UTC", "cannot yet record"), ("MATERNITY", "not an unscheduled care setting")],
)
async def test_a_setting_cp_is_cannot_serve_is_a_clear_422(
    api: Api, setting: str, words: str
) -> None:
    _seed(api)
    answer = await api.get(setting=setting)
    assert answer.status_code == 422
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == ["query", "setting"]
    assert words in problem["msg"]
    assert api.sink.published == []


async def test_the_setting_is_required(api: Api) -> None:
    answer = await api.get()
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "setting"]


async def test_the_flag_is_shown_when_the_broker_is_down_and_the_notice_follows_later(
    api: Api,
) -> None:
    _seed(api)
    api.sink.failing = True
    answer = await api.get(setting="ED")
    assert answer.status_code == 200
    assert len(api.runtime.store.pending_notifications(limit=10)) == 1
    api.sink.failing = False
    for _ in range(100):
        if api.sink.published:
            break
        await asyncio.sleep(0.05)
    assert len(api.sink.published) == 1
    assert api.runtime.store.pending_notifications(limit=10) == []


async def test_ready_without_a_feed_to_follow(api: Api) -> None:
    assert (await api.http.get("/readyz")).status_code == 200
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
