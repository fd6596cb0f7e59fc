"""A MASH manager gives a contact to a named colleague: the rule (domain/screening.assign),
the ledger keeping it across a restart, and the page (POST /items/{id}/allocation
action=assign), which offers only decision makers who have signed in here."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from services.console.domain.screening import (
    Allocation,
    AllocationRefused,
    ContactState,
    RecordedDecision,
    Screener,
    assign,
)
from services.console.screening import SqliteLedger
from services.hubkit.sqlite_store import PrivateSqlite
from tests.console.factories import NOW, STORE_KEYS
from tests.console.unit.test_screening_pages import CONTACT, Hub, Person, running

MORGAN = Screener("u-morgan", "Morgan Ashby")
DANA = Screener("u-dana", "Dana Okafor")
SOL = Screener("u-social", "Sol")


def test_a_manager_gives_a_contact_to_a_colleague_and_the_page_says_who_gave_it() -> None:
    given = assign(ContactState("n1"), to=DANA, by=MORGAN, at=NOW, may_reassign=True)
    assert given == Allocation(DANA, NOW, assigned_by=MORGAN)
    assert given.text() == (
        "Being screened by Dana Okafor, given to them by Morgan Ashby (since Wed 18 Nov 2026, "
        "10:00)"
    )


def test_only_a_manager_gives_work_to_someone_else_and_never_a_decided_contact() -> None:
    state = ContactState("n1")
    assert assign(state, to=DANA, by=SOL, at=NOW, may_reassign=False) is (
        AllocationRefused.MAY_NOT_ASSIGN
    )
    decided = ContactState(
        "n1",
        1,
        None,
        RecordedDecision("d1", "f1", MORGAN, "MASH_MANAGER", NOW, "NFA", "GREEN", ("n1",)),
    )
    assert assign(decided, to=DANA, by=MORGAN, at=NOW, may_reassign=True) is (
        AllocationRefused.DECIDED
    )
    # Giving it to oneself is taking it: no "given by" on one's own contact.
    taken = assign(state, to=MORGAN, by=MORGAN, at=NOW, may_reassign=True)
    assert taken == Allocation(MORGAN, NOW)


def test_the_ledger_keeps_who_gave_the_contact_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    database = PrivateSqlite(path)
    SqliteLedger(database, STORE_KEYS).assign("n1", to=DANA, by=MORGAN, at=NOW, may_reassign=True)
    database.close()
    database = PrivateSqlite(path)
    try:
        ledger = SqliteLedger(database, STORE_KEYS)
        state = ledger.states(["n1"])["n1"]
        assert state.allocation == Allocation(DANA, NOW, assigned_by=MORGAN)
        # Taking it back clears who gave it.
        later = NOW + dt.timedelta(minutes=5)
        ledger.take("n1", screener=MORGAN, at=later, may_reassign=True)
        assert ledger.states(["n1"])["n1"].allocation == Allocation(MORGAN, later)
    finally:
        database.close()


def test_an_older_console_database_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    database = PrivateSqlite(path)
    with database.transaction() as db:  # the table as the first release made it
        db.execute(
            "CREATE TABLE screening_contacts (notice_id TEXT PRIMARY KEY, version INTEGER "
            "NOT NULL DEFAULT 0, current_decision TEXT, screener_subject TEXT, "
            "screener_name TEXT, taken_at TEXT)"
        )
        db.execute(
            "INSERT INTO screening_contacts (notice_id, screener_subject, screener_name, "
            "taken_at) VALUES ('n1', 'u-morgan', 'Morgan Ashby', ?)",
            (NOW.isoformat(),),
        )
    try:
        ledger = SqliteLedger(database, STORE_KEYS)
        assert ledger.states(["n1"])["n1"].allocation == Allocation(MORGAN, NOW)
    finally:
        database.close()


async def _give(someone: Person, to: str) -> str:
    item = (await someone.http.get(f"/items/{CONTACT.notice_id}")).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', item)
    assert csrf is not None
    answer = await someone.http.post(
        f"/items/{CONTACT.notice_id}/allocation",
        data={"csrf_token": csrf.group(1), "action": "assign", "to": to},
    )
    assert answer.status_code == 303
    return (await someone.http.get(f"/items/{CONTACT.notice_id}")).text


async def test_giving_a_contact_to_a_named_colleague_in_the_console(tmp_path: Path) -> None:
    hub = Hub()
    async with running(tmp_path / "console.sqlite", hub) as console:
        async with console.people("social"), console.people("dana"):
            pass  # both have signed in here once: the console knows them
        async with console.people("morgan") as morgan:
            item = (await morgan.http.get(f"/items/{CONTACT.notice_id}")).text
            offered = re.search(r'<select id="assign-[^"]+" name="to">(.*?)</select>', item, re.S)
            assert offered is not None
            # Decision makers only: Dana and Morgan, not the social worker.
            assert re.findall(r'value="([^"]+)"', offered.group(1)) == ["u-dana", "u-morgan"]

            page = await _give(morgan, "u-dana")
            assert "Being screened by Dana Okafor, given to them by Morgan Ashby" in page

            # Not a decision maker, or nobody this console knows: nothing changes.
            for nobody in ("u-social", "u-invented"):
                page = await _give(morgan, nobody)
                assert "That colleague cannot screen contacts here" in page
                assert "Being screened by Dana Okafor, given to them by Morgan Ashby" in page
        async with console.people("dana") as dana:
            queue = (await dana.http.get("/queue")).text
            assert "Being screened by Dana Okafor, given to them by Morgan Ashby" in queue
    assert hub.decisions == []  # giving work publishes nothing


async def test_someone_who_may_not_decide_cannot_give_work(tmp_path: Path) -> None:
    # The social worker is not a decision maker: the allocation form refuses them (audited).
    hub = Hub()
    async with (
        running(tmp_path / "console.sqlite", hub) as console,
        console.people("social") as social,
    ):
        page = (await social.http.get("/queue")).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        answer = await social.http.post(
            f"/items/{CONTACT.notice_id}/allocation",
            data={"csrf_token": csrf.group(1), "action": "assign", "to": "u-social"},
        )
        assert answer.status_code == 403
    assert hub.refusals[-1]["refusal_reason"] == "ROLE_MAY_NOT_DECIDE"
