"""Agency checks (issue 16, item 6): who may be asked, who may answer (once), when it is due,
what the audit log holds (ids, codes and digests, never the text), and the ledger in SQLite."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.console.domain.access import (
    Requester,
    research_answered_event,
    research_requested_event,
)
from services.console.domain.research import (
    AlreadyAnswered,
    Answered,
    CheckState,
    FindingsInput,
    NotYours,
    ResearchCheck,
    Researcher,
    ResearchPartner,
    ResearchRequest,
    admit_answer,
    checks_for_partner,
    partner_offers,
    research_due,
    research_partners,
    validate_findings,
    validate_request,
    visible_to,
)
from services.console.research import ResearchLedger
from services.hubkit.audit_trail import check_console_access
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.settings import REPO_ROOT
from services.hubkit.sqlite_store import PrivateSqlite
from services.hubkit.topology import load_topology
from tests.console.factories import CHILD, NOW, STORE_KEYS

TOPOLOGY = load_topology(REPO_ROOT / "policies")
CATALOG = SchemaCatalog(REPO_ROOT / "schemas" / "avro")
CONSOLE_ROLES = ("MASH_MANAGER", "HEALTH_NAVIGATOR", "POLICE_RESEARCHER", "SOCIAL_WORKER")
NAVIGATOR, RESEARCHER = "mash-health-navigator", "mash-police-researcher"
MORGAN = Researcher("u-morgan", "Morgan Ashby")
HOLLIS = Researcher("u-hollis", "Hollis Brae")
ANOTHER_NURSE = Researcher("u-nurse-2", "Nia Second")
PARTNERS = (
    ResearchPartner(NAVIGATOR, "HEALTH", "HEALTH_NAVIGATOR"),
    ResearchPartner(RESEARCHER, "POLICE", "POLICE_RESEARCHER"),
)


def _request(
    partner: str = NAVIGATOR, *, question: str | None = None, **changes: object
) -> ResearchRequest:
    fields: dict[str, object] = {
        "request_id": str(uuid.uuid4()),
        "notice_id": str(uuid.uuid4()),
        "child_key": CHILD,
        "partner": partner,
        "requested_by": MORGAN,
        "requested_at": NOW,
        "due_by": NOW + dt.timedelta(hours=4),
        "question": question,
        **changes,
    }
    return ResearchRequest(**fields)  # type: ignore[arg-type]


HELD = FindingsInput(False, "Seen in ED twice this month; safeguarding flag on record.", "AMBER")


def test_the_partner_desks_come_from_the_topology_not_from_role_names() -> None:
    partners = research_partners(
        TOPOLOGY.subscribers,
        decision_roles=frozenset({"MASH_MANAGER"}),
        console_roles=CONSOLE_ROLES,
    )
    assert {p.subscriber_id for p in partners} == {NAVIGATOR, RESEARCHER}
    assert {p.name for p in partners} == {"Health navigator", "Police researcher"}
    # The MASH manager decides (sees everything already); the social worker is outside.


def test_only_a_partner_whose_feed_holds_the_contact_is_offered() -> None:
    offers = partner_offers(PARTNERS, holds_contact={NAVIGATOR: True, RESEARCHER: False}, asked=())
    assert [(o.partner.subscriber_id, o.offered) for o in offers] == [
        (NAVIGATOR, True),
        (RESEARCHER, False),
    ]
    assert offers[1].reason is not None
    assert "does not hold this contact under the sharing rules" in offers[1].reason
    asked = partner_offers(
        PARTNERS, holds_contact={NAVIGATOR: True, RESEARCHER: True}, asked=[NAVIGATOR]
    )
    assert [o.offered for o in asked] == [False, True]
    assert asked[0].reason == "Already asked about this contact"


def test_a_tampered_form_cannot_reach_a_partner_not_offered() -> None:
    offers = partner_offers(PARTNERS, holds_contact={NAVIGATOR: True}, asked=())
    refused = validate_request({"partner": [RESEARCHER]}, offers=offers)
    assert isinstance(refused, list)
    assert refused[0].message == "Choose only partners the form offers"
    assert validate_request(
        {"partner": [NAVIGATOR], "question": [" Any ED visits? "]}, offers=offers
    ) == (
        [NAVIGATOR],
        "Any ED visits?",
    )
    nothing = validate_request({}, offers=offers)
    assert isinstance(nothing, list)
    assert nothing[0].message == "Choose at least one partner to ask"
    too_long = validate_request({"partner": [NAVIGATOR], "question": ["x" * 501]}, offers=offers)
    assert isinstance(too_long, list)
    assert too_long[0].field == "question"


def test_a_check_is_due_by_the_decision_deadline_and_never_before_it_was_asked() -> None:
    deadline = NOW + dt.timedelta(hours=3)
    fallback = dt.timedelta(hours=8)
    assert research_due(decision_due=deadline, requested_at=NOW, fallback=fallback) == deadline
    # Immediate danger: the contact was due on arrival, so a check asked later is due at once.
    late = NOW + dt.timedelta(minutes=20)
    assert research_due(decision_due=NOW, requested_at=late, fallback=fallback) == late
    assert research_due(decision_due=None, requested_at=NOW, fallback=fallback) == NOW + fallback


def test_overdue_is_said_in_words() -> None:
    check = ResearchCheck(_request(due_by=NOW + dt.timedelta(hours=1)))
    assert check.state(NOW) is CheckState.REQUESTED
    assert check.state_text(NOW).startswith("Requested: Due in 1h")
    later = NOW + dt.timedelta(hours=3)
    assert check.state(later) is CheckState.OVERDUE
    assert check.state_text(later).startswith("Not answered: Overdue by 2h (was due")


def test_findings_need_text_and_a_rag_unless_nothing_is_known() -> None:
    assert validate_findings(
        {"held": ["information"], "findings": ["Known to the trust."], "partner_rag": ["RED"]}
    ) == FindingsInput(False, "Known to the trust.", "RED")
    assert validate_findings({"held": ["nothing"]}) == FindingsInput(True, "", None)
    blank = validate_findings({"held": ["information"], "findings": [""]})
    assert isinstance(blank, list)
    assert {p.field for p in blank} == {"findings", "partner_rag-RED"}
    unchosen = validate_findings({"findings": ["Something held here."], "partner_rag": ["AMBER"]})
    assert isinstance(unchosen, list)
    assert [p.field for p in unchosen] == ["held-information"]
    bad_rag = validate_findings({"held": ["nothing"], "partner_rag": ["PURPLE"]})
    assert isinstance(bad_rag, list)


def test_only_the_asked_desk_may_answer_and_only_once() -> None:
    check = ResearchCheck(_request(NAVIGATOR))
    assert (
        admit_answer(check, HELD, subscriber_id=RESEARCHER, answerer=HOLLIS, at=NOW)
        is NotYours.NOT_ADDRESSED
    )
    assert admit_answer(None, HELD, subscriber_id=NAVIGATOR, answerer=HOLLIS, at=NOW) is (
        NotYours.NOT_ADDRESSED
    )
    answered = admit_answer(check, HELD, subscriber_id=NAVIGATOR, answerer=HOLLIS, at=NOW)
    assert isinstance(answered, Answered)
    again = admit_answer(
        answered.check, HELD, subscriber_id=NAVIGATOR, answerer=ANOTHER_NURSE, at=NOW
    )
    assert isinstance(again, AlreadyAnswered)
    assert again.message().startswith("Already answered by Hollis Brae at Wed 18 Nov 2026, 10:00")


_checks = st.lists(
    st.builds(
        lambda partner, hours, answered: (
            ResearchCheck(_request(partner, due_by=NOW + dt.timedelta(hours=hours)))
            if not answered
            else admit_answer(  # type: ignore[union-attr]
                ResearchCheck(_request(partner)),
                HELD,
                subscriber_id=partner,
                answerer=HOLLIS,
                at=NOW,
            ).check
        ),
        st.sampled_from([NAVIGATOR, RESEARCHER, "some-other-desk"]),
        st.integers(-48, 48),
        st.booleans(),
    ),
    max_size=12,
)


@given(_checks, st.sampled_from([NAVIGATOR, RESEARCHER]))
def test_a_partner_never_sees_a_check_addressed_to_another_partner(
    checks: list[ResearchCheck], desk: str
) -> None:
    mine = checks_for_partner(checks, desk, now=NOW)
    assert all(c.request.partner == desk for c in mine)
    assert len(mine) == sum(1 for c in checks if c.request.partner == desk)
    assert all(
        visible_to(c, subscriber_id=desk, may_decide=False) == (c.request.partner == desk)
        for c in checks
    )
    # Open checks come first, soonest due first.
    open_dues = [c.request.due_by for c in mine if c.findings is None]
    assert open_dues == sorted(open_dues)
    assert [c.findings is None for c in mine] == sorted(
        (c.findings is None for c in mine), reverse=True
    )


# The ledger ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "memory"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> ResearchLedger:
    if request.param == "memory":
        return ResearchLedger()
    return ResearchLedger(PrivateSqlite(tmp_path / "console.sqlite"), STORE_KEYS)


def test_the_ledger_keeps_one_request_per_contact_and_desk(ledger: ResearchLedger) -> None:
    first = _request(NAVIGATOR, question="Any ED attendances?")
    twin = _request(NAVIGATOR, notice_id=first.notice_id)
    other = _request(RESEARCHER, notice_id=first.notice_id)
    assert ledger.ask([first, twin, other]) == [first, other]
    assert {c.request.partner for c in ledger.for_notices([first.notice_id])} == {
        NAVIGATOR,
        RESEARCHER,
    }
    assert ledger.open_count(NAVIGATOR) == 1
    got = ledger.get(first.request_id)
    assert got is not None
    assert got.request == first


def test_two_people_at_one_desk_answer_and_exactly_one_is_recorded(ledger: ResearchLedger) -> None:
    request = _request(NAVIGATOR)
    ledger.ask([request])
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def answer(who: Researcher) -> None:
        barrier.wait()
        outcomes.append(
            ledger.answer(request.request_id, HELD, subscriber_id=NAVIGATOR, answerer=who, at=NOW)
        )

    threads = [threading.Thread(target=answer, args=(p,)) for p in (HOLLIS, ANOTHER_NURSE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyAnswered", "Answered"]
    winner = next(o for o in outcomes if isinstance(o, Answered))
    stored = ledger.get(request.request_id)
    assert stored is not None
    assert stored.findings == winner.check.findings
    assert ledger.open_count(NAVIGATOR) == 0
    assert ledger.for_partner(RESEARCHER) == []


def test_an_unaudited_answer_or_request_is_withdrawn(ledger: ResearchLedger) -> None:
    request = _request(NAVIGATOR)
    ledger.ask([request])
    ledger.answer(request.request_id, HELD, subscriber_id=NAVIGATOR, answerer=HOLLIS, at=NOW)
    ledger.withdraw_answer(request.request_id, answered_at=NOW, subject=HOLLIS.subject)
    reopened = ledger.get(request.request_id)
    assert reopened is not None
    assert reopened.findings is None
    ledger.withdraw_requests([request.request_id])
    assert ledger.get(request.request_id) is None


def test_the_sqlite_ledger_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    request = _request(NAVIGATOR)
    database = PrivateSqlite(path)
    ResearchLedger(database, STORE_KEYS).ask([request])
    ResearchLedger(database, STORE_KEYS).answer(
        request.request_id, HELD, subscriber_id=NAVIGATOR, answerer=HOLLIS, at=NOW
    )
    database.close()
    reopened = ResearchLedger(PrivateSqlite(path), STORE_KEYS).get(request.request_id)
    assert reopened is not None
    assert reopened.findings is not None
    assert reopened.findings.partner_rag == "AMBER"
    assert reopened.findings.answered_by == HOLLIS


# The audit events ---------------------------------------------------------------------


def _roundtrip(event: dict[str, object]) -> dict[str, object]:
    return CATALOG.decode(
        CATALOG.encode(MessageType.CONSOLE_ACCESS, event), MessageType.CONSOLE_ACCESS
    )


def test_a_request_and_its_answer_are_audited_with_digests_never_the_text() -> None:
    question = "Any A&E attendances for Avery Dunmore?"
    request = _request(NAVIGATOR, question=question)
    manager = Requester("u-morgan", ("MASH_MANAGER",), TOPOLOGY.subscriber("mash-manager"))
    asked = research_requested_event(
        access_id=str(uuid.uuid4()), requester=manager, request=request, at=NOW
    )
    decoded = _roundtrip(asked)
    check_console_access(decoded)
    assert decoded["event"] == "RESEARCH_REQUESTED"
    assert decoded["notice_id"] == request.notice_id
    research = decoded["research"]
    assert isinstance(research, dict)
    assert research["partner"] == NAVIGATOR
    assert research["child_key"] == CHILD
    assert research["question_sha256"] == "sha256:" + hashlib.sha256(question.encode()).hexdigest()
    assert research["answer"] is None
    assert research["findings_sha256"] is None

    check = admit_answer(
        ResearchCheck(request), HELD, subscriber_id=NAVIGATOR, answerer=HOLLIS, at=NOW
    )
    assert isinstance(check, Answered)
    assert check.check.findings is not None
    nurse = Requester("u-hollis", ("HEALTH_NAVIGATOR",), TOPOLOGY.subscriber(NAVIGATOR))
    answered = research_answered_event(
        access_id=str(uuid.uuid4()),
        requester=nurse,
        request=request,
        findings=check.check.findings,
        at=NOW,
    )
    decoded = _roundtrip(answered)
    check_console_access(decoded)
    research = decoded["research"]
    assert isinstance(research, dict)
    assert (research["answer"], research["partner_rag"]) == ("INFORMATION_HELD", "AMBER")
    assert research["findings_sha256"] == (
        "sha256:" + hashlib.sha256(HELD.findings.encode()).hexdigest()
    )
    for event in (asked, answered):
        encoded = CATALOG.encode(MessageType.CONSOLE_ACCESS, event)
        for text in (b"Avery", b"Dunmore", b"A&E", b"safeguarding flag"):
            assert text not in encoded


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"research": None}, "without its check"),
        ({"event": "CHILD_SEARCHED", "search": None}, "agency check on a CHILD_SEARCHED"),
        ({"research.question_sha256": "Any A&E attendances?"}, "question is not a digest"),
        ({"research.findings_sha256": "Seen in ED"}, "findings is not a digest"),
        ({"research.partner": "Hollis Brae (nurse)"}, "not a subscriber"),
    ],
)
def test_the_reader_refuses_an_agency_check_with_free_text(
    changes: dict[str, object], problem: str
) -> None:
    event = research_requested_event(
        access_id=str(uuid.uuid4()),
        requester=Requester("u-morgan", ("MASH_MANAGER",), TOPOLOGY.subscriber("mash-manager")),
        request=_request(NAVIGATOR),
        at=NOW,
    )
    for name, value in changes.items():
        if name.startswith("research."):
            event["research"] = {**event["research"], name.split(".")[1]: value}
        else:
            event[name] = value
    with pytest.raises(AuditRecordRejected, match=problem):
        check_console_access(event)
