"""One decision per contact: allocation, the optimistic-concurrency rule, amendments (the
pure core), and the ledger that keeps them in the console's database across a restart."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from services.console.domain.deadlines import Timescales
from services.console.domain.decisions import (
    AMENDMENT_MARK,
    AmendmentOf,
    DecisionInput,
    DecisionOrigin,
    decision_record,
    mash_decision_notice,
)
from services.console.domain.projection import FeedProjection
from services.console.domain.screening import (
    Admitted,
    Allocation,
    AllocationRefused,
    AlreadyRecorded,
    ContactState,
    LostRace,
    RecordedDecision,
    Screener,
    admit_decision,
    amendment_reason_problem,
    parse_versions,
    release,
    take,
    version_field,
)
from services.console.domain.views import child_view
from services.console.screening import MemoryLedger, ScreeningLedger, SqliteLedger
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.notice import encode_notice
from services.hubkit.settings import REPO_ROOT
from services.hubkit.sqlite_store import PrivateSqlite
from tests.console.factories import AGENCIES, CHILD, NOW, STORE_KEYS, entry

MORGAN = Screener("u-morgan", "Morgan Ashby")
DANA = Screener("u-dana", "Dana Okafor")
C1, C2, C3 = "c-1", "c-2", "c-3"
LATER = NOW + dt.timedelta(minutes=5)


def proposed(
    decision_id: str = "d-1",
    *,
    token: str = "t-1",
    by: Screener = MORGAN,
    covers: tuple[str, ...] = (C1,),
    amends: str | None = None,
    at: dt.datetime = NOW,
) -> RecordedDecision:
    return RecordedDecision(
        decision_id=decision_id,
        form_token=token,
        decided_by=by,
        decided_by_role="MASH manager",
        decided_at=at,
        outcome="S47_STRATEGY_DISCUSSION",
        rag="RED",
        covers=covers,
        amends=amends,
        amend_reason="A reason long enough." if amends else None,
        child_key=CHILD,
    )


# Allocation ---------------------------------------------------------------------------


def test_a_free_contact_is_taken_and_says_by_whom() -> None:
    taken = take(ContactState(C1), screener=MORGAN, at=NOW, may_reassign=False)
    assert taken == Allocation(MORGAN, NOW)
    assert taken.text() == "Being screened by Morgan Ashby (since Wed 18 Nov 2026, 10:00)"


def test_only_a_manager_takes_a_contact_someone_else_holds() -> None:
    held = ContactState(C1, allocation=Allocation(MORGAN, NOW))
    refused = take(held, screener=DANA, at=LATER, may_reassign=False)
    assert refused is AllocationRefused.HELD_BY_ANOTHER
    assert "Being screened by Morgan Ashby" in refused.message(held)
    assert take(held, screener=DANA, at=LATER, may_reassign=True) == Allocation(DANA, LATER)
    # Taking one's own again keeps when it was taken.
    assert take(held, screener=MORGAN, at=LATER, may_reassign=False) == Allocation(MORGAN, NOW)


def test_a_decided_contact_cannot_be_taken() -> None:
    decided = ContactState(C1, version=1, decision=proposed())
    refused = take(decided, screener=DANA, at=LATER, may_reassign=True)
    assert refused is AllocationRefused.DECIDED
    assert "Decided by Morgan Ashby" in refused.message(decided)


def test_release_is_for_the_holder_or_a_manager() -> None:
    held = ContactState(C1, allocation=Allocation(MORGAN, NOW))
    assert release(held, screener=MORGAN, may_reassign=False) is None
    assert release(held, screener=DANA, may_reassign=False) is AllocationRefused.HELD_BY_ANOTHER
    assert release(held, screener=DANA, may_reassign=True) is None
    free = ContactState(C1)
    assert release(free, screener=MORGAN, may_reassign=True) is AllocationRefused.NOT_HELD


# One decision per contact ---------------------------------------------------------------


def test_versions_travel_in_the_form_and_bad_ones_are_left_out() -> None:
    fields = [version_field(C1, 0), version_field("a:b:c", 3), "nonsense", f"{C2}:x", ":4"]
    assert parse_versions(fields) == {C1: 0, "a:b:c": 3}


def test_a_first_decision_on_undecided_contacts_is_admitted() -> None:
    admitted = admit_decision(
        proposed(covers=(C1, C2)), current={}, rendered={C1: 0, C2: 0}, same_form=None
    )
    assert isinstance(admitted, Admitted)
    assert admitted.versions == {C1: 1, C2: 1}


def test_the_second_decision_on_a_contact_loses_and_is_told_who_decided() -> None:
    first = proposed()
    current = {C1: ContactState(C1, version=1, decision=first)}
    second = proposed("d-2", token="t-2", by=DANA, covers=(C1, C2))
    lost = admit_decision(second, current=current, rendered={C1: 0, C2: 0}, same_form=None)
    assert isinstance(lost, LostRace)
    assert [c.notice_id for c in lost.contacts] == [C1]  # C2 was free, but the form lost
    message = lost.message()
    assert "Decided by Morgan Ashby at Wed 18 Nov 2026, 10:00: Strategy discussion" in message
    assert "Your decision was not recorded or sent." in message


def test_a_form_rendered_after_a_decision_cannot_decide_again() -> None:
    # A version it claims to have seen does not make a second decision a first one.
    current = {C1: ContactState(C1, version=1, decision=proposed())}
    again = proposed("d-2", token="t-2", by=DANA)
    assert isinstance(
        admit_decision(again, current=current, rendered={C1: 1}, same_form=None), LostRace
    )


def test_a_resubmitted_form_is_the_decision_already_recorded() -> None:
    first = proposed()
    current = {C1: ContactState(C1, version=1, decision=first)}
    answer = admit_decision(proposed(), current=current, rendered={C1: 0}, same_form=first)
    assert answer == AlreadyRecorded(first)


def test_an_amendment_is_admitted_only_on_the_current_decision() -> None:
    first = proposed()
    current = {C1: ContactState(C1, version=1, decision=first)}
    amendment = proposed("d-2", token="t-2", by=DANA, amends="d-1", at=LATER)
    admitted = admit_decision(amendment, current=current, rendered={C1: 1}, same_form=None)
    assert isinstance(admitted, Admitted)
    assert admitted.versions == {C1: 2}
    assert amendment.text().startswith("Amended by Dana Okafor at Wed 18 Nov 2026, 10:05")
    # Someone amended it first: the second amendment of the same decision loses.
    now = {C1: ContactState(C1, version=2, decision=amendment)}
    late = proposed("d-3", token="t-3", amends="d-1", at=LATER)
    lost = admit_decision(late, current=now, rendered={C1: 1}, same_form=None)
    assert isinstance(lost, LostRace)
    assert "Amended by Dana Okafor" in lost.message()
    # An amendment of a decision nobody recorded amends nothing.
    stray = proposed("d-4", token="t-4", amends="d-9")
    assert isinstance(admit_decision(stray, current={}, rendered={}, same_form=None), LostRace)


def test_an_amendment_needs_a_reason() -> None:
    assert amendment_reason_problem("   ") is not None
    assert amendment_reason_problem("too short") is not None
    assert amendment_reason_problem("x" * 1001) is not None
    assert amendment_reason_problem("New police information changes the risk.") is None


# The notice says who decided, and what an amendment amends -----------------------------

ORIGIN = DecisionOrigin("MASH", "MASH-E09000099", "MASH manager", "Synthetic MASH", "0300")
DECISION = DecisionInput(
    rag="AMBER",
    outcome="S17_ASSESSMENT",
    rationale="New information lowers the risk; assessment instead of s47.",
    family_agreement=False,
    family_informed=True,
    family_not_informed_reason=None,
    related_notice_ids=(),
    agreed_actions=(),
)


def test_an_amendment_is_a_mash_decision_that_names_what_it_amends_and_why() -> None:
    contact = entry(given_name="Avery", family_name="Dunmore")
    decision = replace(DECISION, related_notice_ids=(contact.notice_id,))
    amends = AmendmentOf("d-1", "Morgan Ashby", NOW, "Police withdrew the allegation today.")
    notice = mash_decision_notice(
        decision,
        child_entries=[contact],
        origin=ORIGIN,
        decided_by_role="MASH manager",
        decided_by_name="Dana Okafor",
        source_reference="MASH-DEC-token-2",
        now=LATER,
        amends=amends,
    )
    record = notice["narrative"]["full_account"]
    assert record.startswith(f"{AMENDMENT_MARK}: this decision amends MASH decision d-1")
    assert "decided by Morgan Ashby at 2026-11-18 10:00 UTC" in record
    assert "Reason for the amendment: Police withdrew the allegation today." in record
    assert "Decided by Dana Okafor (MASH manager) at 2026-11-18 10:05 UTC." in record
    assert notice["narrative"]["summary"].startswith("MASH decision (amends an earlier")
    assert notice["detail"]["rationale"] == decision.rationale  # the decider's own words
    catalog = SchemaCatalog(REPO_ROOT / "schemas" / "avro")
    decoded = catalog.decode(encode_notice(catalog, notice), MessageType.NOTICE)
    assert decoded["narrative"]["full_account"] == record


def test_a_first_decision_records_the_named_person() -> None:
    assert decision_record(
        decided_by_name="Morgan Ashby", decided_by_role="MASH manager", decided_at=NOW
    ) == ("Decided by Morgan Ashby (MASH manager) at 2026-11-18 10:00 UTC.")


# The ledger ----------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "memory"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> ScreeningLedger:
    if request.param == "memory":
        return MemoryLedger()
    return SqliteLedger(PrivateSqlite(tmp_path / "console.sqlite"), STORE_KEYS)


def test_the_ledger_records_one_decision_per_contact(ledger: ScreeningLedger) -> None:
    assert ledger.take(C1, screener=DANA, at=NOW, may_reassign=False) == Allocation(DANA, NOW)
    assert ledger.states([C1])[C1].allocation == Allocation(DANA, NOW)
    assert isinstance(ledger.record(proposed(covers=(C1, C2)), rendered={}), Admitted)
    state = ledger.states([C1, C2, C3])
    assert set(state) == {C1, C2}
    assert state[C1].version == 1
    decided = state[C1].decision
    assert decided is not None
    assert decided.decided_by == MORGAN
    assert state[C1].allocation is None  # decided: nobody is screening it any more
    lost = ledger.record(proposed("d-2", token="t-2", by=DANA, covers=(C2, C3)), rendered={})
    assert isinstance(lost, LostRace)
    assert ledger.decision("d-2") is None
    assert C3 not in ledger.states([C3])  # nothing of the losing form was written
    again = ledger.record(proposed(covers=(C1, C2)), rendered={})
    assert isinstance(again, AlreadyRecorded)
    ledger.mark_sent("d-1", LATER)
    recorded = ledger.decision("d-1")
    assert recorded is not None
    assert recorded.sent_at == LATER
    amendment = proposed("d-3", token="t-3", by=DANA, covers=(C1, C2), amends="d-1")
    assert isinstance(ledger.record(amendment, rendered={C1: 1, C2: 1}), Admitted)
    now = ledger.states([C1])[C1]
    assert (now.version, now.decision and now.decision.decision_id) == (2, "d-3")
    assert ledger.take(C1, screener=DANA, at=NOW, may_reassign=True) is AllocationRefused.DECIDED


def test_the_ledger_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    first = PrivateSqlite(path)
    SqliteLedger(first, STORE_KEYS).record(proposed(), rendered={})
    SqliteLedger(first, STORE_KEYS).take(C2, screener=DANA, at=NOW, may_reassign=False)
    first.close()
    reopened = SqliteLedger(PrivateSqlite(path), STORE_KEYS)
    states = reopened.states([C1, C2])
    kept = states[C1].decision
    assert kept is not None
    assert kept.text().startswith("Decided by Morgan Ashby")
    assert states[C2].allocation == Allocation(DANA, NOW)
    assert isinstance(reopened.record(proposed("d-2", token="t-2"), rendered={}), LostRace)


def test_of_many_simultaneous_decisions_on_a_contact_exactly_one_wins(tmp_path: Path) -> None:
    ledger = SqliteLedger(PrivateSqlite(tmp_path / "console.sqlite"), STORE_KEYS)
    results: list[object] = []
    start = threading.Barrier(8)

    def decide(n: int) -> None:
        start.wait()
        results.append(ledger.record(proposed(f"d-{n}", token=f"t-{n}"), rendered={C1: 0}))

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(r, Admitted) for r in results) == 1
    assert sum(isinstance(r, LostRace) for r in results) == 7
    assert ledger.states([C1])[C1].version == 1


def test_the_chronology_shows_a_decisions_record() -> None:
    contact = entry()
    record = "AMENDMENT: this decision amends MASH decision d-1. Decided by Dana Okafor."
    amended = entry(
        notice_type="MASH_DECISION",
        source_agency="MASH",
        detail={"rag": "AMBER", "outcome": "S17_ASSESSMENT", "rationale": "Synthetic."},
        extra={"narrative": {"summary": "MASH decision", "full_account": record}},
    )
    projection = FeedProjection("mash-manager")
    for item in (contact, amended):
        projection.apply(item)
    view = child_view([contact, amended], projection, timescales=Timescales(), agencies=AGENCIES)
    rows = {r.label: r.value for e in view.entries for r in e.details}
    assert rows["Decision record"] == record
