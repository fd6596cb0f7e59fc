"""Emergency access over HTTP (issue 18), wired by the real bootstrap with a real store and the
IG officers' real rules; the broker is replaced by fakes and the identity provider by a test
key (the real ones: tests/cpis/integration)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.cpis.api import create_app
from services.cpis.bootstrap import running_cpis
from services.cpis.domain.emergency import grant_from_feed_item
from services.cpis.domain.register import parse_plan_change
from services.cpis.service import CpisRuntime
from services.cpis.settings import CpisSettings
from services.hubkit.audit_trail import check_console_access
from services.hubkit.settings import HubSettings
from tests.cpis.factories import (
    ISSUER,
    NHS_NUMBER,
    REGISTER,
    TokenMint,
    csc_notice,
    grant_feed_item,
    register_feed_item,
    withheld_from_register,
)
from tests.cpis.unit.test_api import FakeSink

NOW = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)
URL = f"/cpis/children/{NHS_NUMBER}/break-glass"
ASK = {
    "setting": "ED",
    "reason": "CHILD_PRESENTING_NOW",
    "justification": "Child in ED at 3 a.m. with injuries; need who to call now.",
    "paths": ["detail.primary_need", "narrative.summary"],
}


class FakeEmergency:
    """Stands in for the signed producer: what was requested and which views were logged,
    in order with what the clinician was shown."""

    def __init__(self) -> None:
        self.requests: list[Mapping[str, Any]] = []
        self.views: list[Mapping[str, Any]] = []
        self.failing = False

    async def request_break_glass(self, request: Mapping[str, Any]) -> None:
        if self.failing:
            raise ConnectionError("broker down")
        self.requests.append(request)

    async def record_view(self, event: Mapping[str, Any]) -> None:
        if self.failing:
            raise ConnectionError("broker down")
        check_console_access(event)
        self.views.append(event)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Api:
    http: httpx.AsyncClient
    runtime: CpisRuntime
    bus: FakeEmergency
    mint: TokenMint
    clock: Clock
    notice: dict[str, Any] = field(default_factory=dict)

    def headers(self, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint.token(**claims)}"}

    def seed(self, *, withheld: list[str] | None = None) -> None:
        notice = csc_notice()
        item = register_feed_item(notice)
        item["fields_withheld"] = withheld_from_register(notice) if withheld is None else withheld
        self.runtime.store.apply(parse_plan_change(item, subscriber_id=REGISTER), now_ms=0)
        self.notice = notice

    def grant(self, request_id: str, paths: tuple[str, ...]) -> None:
        """The gateway's grant, read from the feed (as the follower keeps it)."""
        item = grant_feed_item(
            self.notice,
            request_id=request_id,
            paths=paths,
            expires_at=NOW + dt.timedelta(hours=4),
        )
        grant = grant_from_feed_item(item, subscriber_id=REGISTER)
        assert self.runtime.store.keep_grant(grant, now=self.clock()) is True


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    mint, bus, clock = TokenMint(), FakeEmergency(), Clock()
    hub = HubSettings(data_dir=tmp_path)
    settings = CpisSettings(token_issuer=ISSUER, outbox_retry_s=0.05, notify_timeout_s=0.5)
    app = create_app(
        lambda: running_cpis(
            hub,
            settings,
            validator=mint.validator(),
            sink=FakeSink(),
            emergency=bus,
            follow=False,
            clock=clock,
            new_id=lambda: str(uuid.uuid4()),
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cpis.test") as http:
            yield Api(http, app.state.runtime, bus, mint, clock)


async def test_the_token_is_checked_before_the_body(api: Api) -> None:
    api.seed()
    answer = await api.http.post(URL, content=b"not json")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    other = api.headers(roles=["MASH_MANAGER"])
    assert (await api.http.post(URL, content=b"not json", headers=other)).status_code == 403
    assert api.bus.requests == []


async def test_the_form_offers_what_the_rules_allow_with_labels_and_words(api: Api) -> None:
    api.seed()
    answer = await api.http.get(URL, headers=api.headers())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    offered = [p["path"] for p in body["paths"]]
    assert "narrative.summary" in offered
    assert "detail.primary_need" in offered
    assert "narrative.full_account" not in offered  # beyond the clinician's ceiling
    assert "subject.given_name" not in offered
    labels = {p["path"]: p["label"] for p in body["paths"]}
    assert labels["narrative.summary"] != "narrative.summary"  # the IG's words
    assert {r["reason"] for r in body["reasons"]} >= {"CHILD_PRESENTING_NOW"}
    assert body["grant_hours"] == 4
    assert body["justification_max_chars"] == 1000


async def test_no_plan_is_a_404_that_says_nothing(api: Api) -> None:
    for answer in (
        await api.http.get(URL, headers=api.headers()),
        await api.http.post(URL, json=ASK, headers=api.headers()),
    ):
        assert answer.status_code == 404
        assert answer.json() == {"detail": "Not Found"}
    assert api.bus.requests == []


async def test_nothing_grantable_is_a_409_problem(api: Api) -> None:
    api.seed(withheld=["narrative.full_account"])
    answer = await api.http.post(URL, json=ASK, headers=api.headers())
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 409
    assert api.bus.requests == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"reason": "CURIOUS"}, "choose a reason from the list"),
        ({"justification": ""}, "say in your own words"),
        ({"paths": ["narrative.full_account"]}, "only information withheld"),
        ({"setting": "GP"}, "GP"),
        ({"paths": "narrative.summary"}, "the request body needs"),
    ],
)
async def test_a_request_the_rules_refuse_is_a_422_problem_in_their_words(
    api: Api, change: dict[str, Any], words: str
) -> None:
    api.seed()
    answer = await api.http.post(URL, json={**ASK, **change}, headers=api.headers())
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert words in answer.json()["detail"]
    assert api.bus.requests == []


async def test_a_request_is_sent_and_its_answer_shown_to_the_clinician_after_the_view_is_logged(
    api: Api,
) -> None:
    api.seed()
    answer = await api.http.post(URL, json=ASK, headers=api.headers())
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "waiting"
    assert body["requested_paths"] == ["detail.primary_need", "narrative.summary"]
    (request,) = api.bus.requests
    assert request["request_id"] == body["request_id"]
    assert request["notice_id"] == api.notice["notice_id"]
    assert request["subscriber_id"] == REGISTER
    assert request["requester_subject"] == "clinician-1"
    assert request["requester_role"] == "UNSCHEDULED_CARE_CLINICIAN"
    assert request["subject_linkage_key"] == api.notice["subject"]["linkage_key"]
    status_url = f"/cpis/break-glass/{body['request_id']}"

    waiting = await api.http.get(status_url, headers=api.headers())
    assert waiting.json() == {"status": "waiting"}
    assert api.bus.views == []

    api.grant(body["request_id"], ("detail.primary_need", "narrative.summary"))
    # Another clinician learns nothing, not even that the request exists.
    stranger = await api.http.get(status_url, headers=api.headers(subject="clinician-2"))
    assert stranger.status_code == 404
    assert api.bus.views == []

    shown = await api.http.get(status_url, headers=api.headers())
    assert shown.status_code == 200, shown.text
    granted = shown.json()
    assert granted["status"] == "granted"
    assert granted["until"] == "2026-11-20T07:00:00Z"
    assert granted["fields"] == {
        "detail.primary_need": api.notice["detail"]["primary_need"],
        "narrative.summary": api.notice["narrative"]["summary"],
    }
    assert "Every view is recorded" in granted["caveat"]
    (view,) = api.bus.views
    assert view["event"] == "NOTICE_VIEWED"
    assert view["break_glass_request_id"] == body["request_id"]
    assert view["actor"] == "clinician-1"

    # Fail closed: no event written, nothing shown.
    api.bus.failing = True
    refused = await api.http.get(status_url, headers=api.headers())
    assert refused.status_code == 503
    assert "fields" not in refused.json()
    assert len(api.bus.views) == 1
    api.bus.failing = False

    api.clock.now = NOW + dt.timedelta(hours=4)
    ended = await api.http.get(status_url, headers=api.headers())
    assert ended.json() == {"status": "ended", "ended_at": "2026-11-20T07:00:00Z"}
    assert len(api.bus.views) == 1
    answer_after = api.runtime.store.emergency_answer(body["request_id"])
    assert answer_after is not None
    assert answer_after.grant is not None
    assert answer_after.grant.view is None  # deleted from the store


async def test_a_request_the_broker_does_not_take_is_a_503(api: Api) -> None:
    api.seed()
    api.bus.failing = True
    answer = await api.http.post(URL, json=ASK, headers=api.headers())
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
