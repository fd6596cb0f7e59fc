"""One decision per contact at the HTTP edge: two managers deciding the same contact (one
wins, the other is told who decided and nothing is published for them), allocation, amending
with a reason, a decision the hub did not acknowledge, and a console restart. Fakes for the
bus and the identity provider; the console's database is a real SQLite file."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.console.app import create_app
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from tests.console.app_fakes import PEOPLE, FakeSignIn, Sent, feed_projections, page_runtime
from tests.console.factories import entry

CONTACT = entry(
    risk="HIGH",
    given_name="Avery",
    family_name="Dunmore",
    extra={"source": {"agency": "POLICE", "organisation_code": "POL-XX01"}},
)
RATIONALE = "Police contact and a health alert in the same week."


@dataclass
class Hub(Sent):
    """The decision sender and access recorder, with a switch to make the hub not answer."""

    down: bool = False

    async def send(self, notice: Mapping[str, Any]) -> str:
        if self.down:
            raise TimeoutError("no acknowledgement")
        return await super().send(notice)


@dataclass
class Person:
    http: httpx.AsyncClient
    signin: FakeSignIn
    who: str

    async def sign_in(self) -> None:
        self.signin.next = PEOPLE[self.who]
        await self.http.get("/login")
        assert (await self.http.get("/auth/callback")).status_code == 303

    async def child_page(self) -> tuple[str, str]:
        queue = (await self.http.get("/queue")).text
        link = re.search(rf'id="child-{CONTACT.notice_id}" href="(/children/[^"]+)"', queue)
        assert link is not None
        return link.group(1), (await self.http.get(link.group(1))).text


@dataclass
class Console:
    hub: Hub
    people: Callable[[str], contextlib.AbstractAsyncContextManager[Person]]


def _form(page: str, **fields: str) -> dict[str, list[str]]:
    """The decision form as rendered (its hidden fields, every version) plus `fields`."""
    form = re.search(r'<form method="post" action="[^"]*/(decisions|amend)".*?</form>', page, re.S)
    assert form is not None, "no decision form on the page"
    hidden = re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form.group(0))
    answers = {
        "related": CONTACT.notice_id,
        "rag": "RED",
        "outcome": "S47_STRATEGY_DISCUSSION",
        "rationale": RATIONALE,
        "family_informed": "yes",
        **fields,
    }
    form_data: dict[str, list[str]] = {}
    for name, value in [*hidden, *answers.items()]:
        form_data.setdefault(name, []).append(value)
    return form_data


@contextlib.asynccontextmanager
async def running(database: Path, hub: Hub) -> AsyncIterator[Console]:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    signin = FakeSignIn()
    projections = feed_projections(settings, (CONTACT,))

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        store = PrivateSqlite(database)
        try:
            yield page_runtime(
                settings,
                sessions,
                projections=projections,
                signin=signin,
                sent=hub,
                database=store,
            )
        finally:
            store.close()

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: 1_800_000_000.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)

        @contextlib.asynccontextmanager
        async def person(who: str) -> AsyncIterator[Person]:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://console.test"
            ) as http:
                someone = Person(http, signin, who)
                await someone.sign_in()
                yield someone

        yield Console(hub, person)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async with running(tmp_path / "console.sqlite", Hub()) as app:
        yield app


async def test_two_managers_decide_one_contact_and_exactly_one_wins(console: Console) -> None:
    async with console.people("morgan") as morgan, console.people("dana") as dana:
        child, morgan_page = await morgan.child_page()
        dana_child, dana_page = await dana.child_page()
        assert f'name="version" value="{CONTACT.notice_id}:0"' in morgan_page

        won = await morgan.http.post(f"{child}/decisions", data=_form(morgan_page))
        assert (won.status_code, won.headers["location"]) == (303, child)
        lost = await dana.http.post(
            f"{dana_child}/decisions", data=_form(dana_page, outcome="NFA", rag="GREEN")
        )
        assert lost.status_code == 409
        assert "Already decided" in lost.text
        assert (
            "Decided by Morgan Ashby at Wed 18 Nov 2026, 10:00: Strategy discussion (s47), "
            "RAG Red" in lost.text
        )
        assert "Your decision was not recorded or sent." in lost.text
        (notice,) = console.hub.decisions  # nothing was published for Dana
        assert notice["detail"]["outcome"] == "S47_STRATEGY_DISCUSSION"
        assert "Decided by Morgan Ashby (MASH manager)" in notice["narrative"]["full_account"]

        # The contact reads who decided, and the form is gone, for both.
        for who in (morgan, dana):
            _, page = await who.child_page()
            assert "Decided by Morgan Ashby at Wed 18 Nov 2026, 10:00" in page
            assert 'action="' + child + '/decisions"' not in page
            assert "Every contact about this child shared with you has a decision." in page
        item = (await dana.http.get(f"/items/{CONTACT.notice_id}")).text
        assert "Decided by Morgan Ashby" in item
        queue = (await dana.http.get("/queue")).text
        assert "Decided by Morgan Ashby" in queue


async def test_going_back_to_the_form_does_not_decide_again(console: Console) -> None:
    async with console.people("morgan") as morgan:
        child, page = await morgan.child_page()
        form = _form(page)
        assert (await morgan.http.post(f"{child}/decisions", data=form)).status_code == 303
        again = await morgan.http.post(f"{child}/decisions", data=form)  # back, submit
        assert again.status_code == 303
        # A second form from another tab opened before the decision: told it was decided.
        assert len(console.hub.decisions) == 1


async def test_a_decision_the_hub_did_not_confirm_is_sent_again_once(console: Console) -> None:
    async with console.people("morgan") as morgan, console.people("dana") as dana:
        child, page = await morgan.child_page()
        dana_child, dana_page = await dana.child_page()
        form = _form(page)
        console.hub.down = True
        failed = await morgan.http.post(f"{child}/decisions", data=form)
        assert failed.status_code == 503
        assert "recorded against the contact" in failed.text
        # Recorded: nobody else can decide it meanwhile.
        lost = await dana.http.post(f"{dana_child}/decisions", data=_form(dana_page))
        assert lost.status_code == 409
        console.hub.down = False
        sent = await morgan.http.post(f"{child}/decisions", data=form)
        assert sent.status_code == 303
        assert len(console.hub.decisions) == 1
        assert (await morgan.http.post(f"{child}/decisions", data=form)).status_code == 303
        assert len(console.hub.decisions) == 1


async def test_allocation_shows_who_is_screening_and_a_manager_may_take_over(
    console: Console,
) -> None:
    async with console.people("morgan") as morgan, console.people("dana") as dana:
        child, page = await morgan.child_page()
        assert "Nobody is screening this contact yet." in page
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        taken = await morgan.http.post(
            f"/items/{CONTACT.notice_id}/allocation",
            data={"csrf_token": csrf.group(1), "action": "take", "back": child},
        )
        assert (taken.status_code, taken.headers["location"]) == (303, child)
        _, page = await morgan.child_page()
        assert "You are screening this contact" in page
        assert "Being screened by Morgan Ashby (since Wed 18 Nov 2026, 10:00)" in page
        assert ">Release<" in page

        queue = (await dana.http.get("/queue")).text
        assert "Being screened by Morgan Ashby" in queue
        item = (await dana.http.get(f"/items/{CONTACT.notice_id}")).text
        assert "Being screened by Morgan Ashby" in item
        assert "Take over from Morgan Ashby" in item  # a manager may reassign
        dana_csrf = re.search(r'name="csrf_token" value="([^"]+)"', item)
        assert dana_csrf is not None
        over = await dana.http.post(
            f"/items/{CONTACT.notice_id}/allocation",
            data={"csrf_token": dana_csrf.group(1), "action": "take", "back": "//evil.test"},
        )
        assert over.headers["location"] == f"/items/{CONTACT.notice_id}"  # never elsewhere
        assert "Being screened by Dana Okafor" in (await morgan.http.get("/queue")).text


async def test_only_decision_makers_take_contacts_and_others_are_audited(
    console: Console,
) -> None:
    async with console.people("social") as social:
        page = (await social.http.get("/queue")).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        answer = await social.http.post(
            f"/items/{CONTACT.notice_id}/allocation",
            data={"csrf_token": csrf.group(1), "action": "take"},
        )
        assert answer.status_code == 403
        assert console.hub.refusals[-1]["refusal_reason"] == "ROLE_MAY_NOT_DECIDE"


async def test_an_amendment_needs_a_reason_and_is_published_as_amending(
    console: Console,
) -> None:
    async with console.people("morgan") as morgan, console.people("dana") as dana:
        child, page = await morgan.child_page()
        await morgan.http.post(f"{child}/decisions", data=_form(page))
        (first,) = console.hub.decisions
        _, page = await dana.child_page()
        link = re.search(r'href="(/children/[^"]+/decisions/[^"]+/amend)"', page)
        assert link is not None
        amend_page = (await dana.http.get(link.group(1))).text
        assert "Decided by Morgan Ashby" in amend_page
        # Dana and Morgan both open the amendment form; Dana first leaves out the reason.
        dana_form = _form(amend_page, outcome="S17_ASSESSMENT", rag="AMBER")
        refused = await dana.http.post(link.group(1), data=dana_form)
        assert refused.status_code == 400
        assert "Enter the reason for amending the decision" in refused.text
        morgan_link = f"{child}/decisions/{first['notice_id']}/amend"  # Morgan's handle
        morgan_amend = (await morgan.http.get(morgan_link)).text

        reason = "Police withdrew the allegation this afternoon."
        answers = _form(refused.text, outcome="S17_ASSESSMENT", rag="AMBER", amend_reason=reason)
        done = await dana.http.post(link.group(1), data=answers)
        assert done.status_code == 303
        first_id, (_, amendment) = first["notice_id"], console.hub.decisions
        record = amendment["narrative"]["full_account"]
        assert record.startswith(f"AMENDMENT: this decision amends MASH decision {first_id}")
        assert f"Reason for the amendment: {reason}" in record
        assert "Decided by Dana Okafor (MASH manager)" in record
        assert amendment["detail"]["outcome"] == "S17_ASSESSMENT"
        assert amendment["detail"]["related_notice_ids"] == [CONTACT.notice_id]
        assert amendment["notice_id"] != first_id

        # Morgan's amendment form was rendered before Dana's amendment: it loses.
        late = await morgan.http.post(
            morgan_link, data=_form(morgan_amend, outcome="NFA", amend_reason=reason)
        )
        assert late.status_code == 409
        assert "Amended by Dana Okafor" in late.text
        assert len(console.hub.decisions) == 2
        _, page = await morgan.child_page()
        assert "Amended by Dana Okafor at Wed 18 Nov 2026, 10:00: Child in need" in page
        # The old decision is no longer amendable: its page names the current one.
        old = (await morgan.http.get(morgan_link)).text
        assert "has been amended since" in old
        assert "Record amended decision" not in old


async def test_decisions_survive_a_console_restart(tmp_path: Path) -> None:
    database, hub = tmp_path / "console.sqlite", Hub()
    async with running(database, hub) as first, first.people("morgan") as morgan:
        child, page = await morgan.child_page()
        assert (await morgan.http.post(f"{child}/decisions", data=_form(page))).status_code == 303
    async with running(database, hub) as again, again.people("dana") as dana:
        _, page = await dana.child_page()
        assert "Decided by Morgan Ashby at Wed 18 Nov 2026, 10:00" in page
        assert "Every contact about this child shared with you has a decision." in page
    assert len(hub.decisions) == 1
