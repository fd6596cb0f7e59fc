"""The console's ledgers keep a child's free text sealed under the child's data key (issue 18):
an agency check's question and findings, a decision's amendment reason. None of it is ever in
the database file or its write-ahead log in clear, a database from before sealing is sealed
on open, and once the child is erased (erasure.py, the one place the console erases) none of
it can be read back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from services.console.domain.deadlines import Timescales
from services.console.domain.research import (
    Answered,
    FindingsInput,
    Researcher,
    ResearchRequest,
)
from services.console.domain.screening import Admitted, RecordedDecision, Screener
from services.console.erasure import ChildErased, erase_child
from services.console.ledger_sealing import LEDGER_HOLDER
from services.console.projection_store import StoredProjection
from services.console.research import ResearchLedger
from services.console.screening import SqliteLedger
from services.hubkit.errors import SealedValueUnreadable
from services.hubkit.sqlite_store import PrivateSqlite
from tests.console.factories import NOW, STORE_KEYS, entry

ERASED = "e1" * 32  # the linkage key of the child who is erased
KEPT = "f2" * 32
NAVIGATOR = "mash-health-navigator"
MORGAN = Researcher("u-morgan", "Morgan Ashby")
HOLLIS = Researcher("u-hollis", "Hollis Brae")
# Distinctive synthetic text: a match in the file's bytes can only be one of these values.
QUESTION = "Marker-q41x: any ED visits at the Quillonbe walk-in centre?"
FINDINGS = "Marker-f93k: seen twice at Quillonbe walk-in, bruising noted both times."
REASON = "Marker-r27z: the school rang back about the Quillonbe allotment."
SECRETS = (QUESTION, FINDINGS, REASON)


def _file_bytes(path: Path) -> bytes:
    """The database file and its write-ahead log, as a copy or a backup would take them."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def _request(child_key: str, question: str | None = QUESTION) -> ResearchRequest:
    return ResearchRequest(
        request_id=str(uuid.uuid4()),
        notice_id=str(uuid.uuid4()),
        child_key=child_key,
        partner=NAVIGATOR,
        requested_by=MORGAN,
        requested_at=NOW,
        due_by=NOW + dt.timedelta(hours=4),
        question=question,
    )


def _amendment(
    child_key: str, decision_id: str = "d-2", covers: str = "c-1", amends: str = "d-1"
) -> RecordedDecision:
    return RecordedDecision(
        decision_id=decision_id,
        form_token=f"t-{decision_id}",
        decided_by=Screener(MORGAN.subject, MORGAN.name),
        decided_by_role="MASH_MANAGER",
        decided_at=NOW,
        outcome="NFA",
        rag="GREEN",
        covers=(covers,),
        amends=amends,
        amend_reason=REASON,
        child_key=child_key,
    )


def _record(ledger: SqliteLedger, amendment: RecordedDecision) -> object:
    """Record the decision `amendment` amends (from a form rendered before anything was
    decided), then the amendment itself."""
    first = dataclasses.replace(
        amendment,
        decision_id=str(amendment.amends),
        form_token=f"t-{amendment.amends}",
        amends=None,
        amend_reason=None,
    )
    assert isinstance(ledger.record(first, rendered=dict.fromkeys(first.covers, 0)), Admitted)
    return ledger.record(amendment, rendered=dict.fromkeys(amendment.covers, 1))


def _answered(ledger: ResearchLedger, request: ResearchRequest, findings: str) -> None:
    outcome = ledger.answer(
        request.request_id,
        FindingsInput(False, findings, "AMBER"),
        subscriber_id=NAVIGATOR,
        answerer=HOLLIS,
        at=NOW,
    )
    assert isinstance(outcome, Answered)


def test_questions_findings_and_reasons_are_never_in_the_file_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    database = PrivateSqlite(path)
    research = ResearchLedger(database, STORE_KEYS)
    screening = SqliteLedger(database, STORE_KEYS)
    request = _request(ERASED)
    research.ask([request])
    _answered(research, request, FINDINGS)
    assert isinstance(_record(screening, _amendment(ERASED)), Admitted)
    # While the console runs (the log not yet checkpointed) and after it stops.
    raw = _file_bytes(path)
    assert ERASED.encode() in raw  # the check can see clear text when there is some
    for secret in SECRETS:
        assert secret.encode() not in raw
    database.close()
    for secret in SECRETS:
        assert secret.encode() not in _file_bytes(path)
    # Opened again whole after a restart, under the same store key.
    database = PrivateSqlite(path)
    check = ResearchLedger(database, STORE_KEYS).get(request.request_id)
    assert check is not None
    assert check.request == request
    assert check.findings is not None
    assert check.findings.findings == FINDINGS
    decision = SqliteLedger(database, STORE_KEYS).decision("d-2")
    assert decision is not None
    assert (decision.amend_reason, decision.child_key) == (REASON, ERASED)


def test_a_sealed_question_moved_to_another_row_or_column_does_not_open(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    database = PrivateSqlite(path)
    ledger = ResearchLedger(database, STORE_KEYS)
    first, second = _request(ERASED), _request(ERASED, question="Another question entirely.")
    ledger.ask([first, second])
    with database.transaction() as db:
        db.execute(
            "UPDATE research_requests SET question_sealed = (SELECT question_sealed FROM "
            "research_requests WHERE request_id = ?) WHERE request_id = ?",
            (first.request_id, second.request_id),
        )
        db.execute(
            "UPDATE research_requests SET findings_sealed = question_sealed WHERE request_id = ?",
            (first.request_id,),
        )
    for moved in (first, second):
        with pytest.raises(SealedValueUnreadable):
            ledger.get(moved.request_id)


def test_erasing_a_child_leaves_nothing_of_them_readable_in_any_ledger(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    database = PrivateSqlite(path)
    projection = StoredProjection(
        database,
        "mash-manager",
        topic="feed.mash-manager.v1",
        timescales=Timescales(),
        keys=STORE_KEYS,
    )
    research = ResearchLedger(database, STORE_KEYS)
    screening = SqliteLedger(database, STORE_KEYS)
    erased_item, kept_item = entry(linkage_key=ERASED), entry(linkage_key=KEPT)
    projection.apply_all([erased_item, kept_item], topic="", partition=-1, next_offset=0)
    erased_request, kept_request = _request(ERASED), _request(KEPT, question="Kept question.")
    research.ask([erased_request, kept_request])
    _answered(research, erased_request, FINDINGS)
    assert isinstance(_record(screening, _amendment(ERASED)), Admitted)
    assert isinstance(
        _record(screening, _amendment(KEPT, "d-3", covers="c-2", amends="d-0")), Admitted
    )
    # The projection dropped and rebuilt from its feed (new timescales) keeps the ledgers' keys.
    projection.forget_feed()
    assert research.get(erased_request.request_id) is not None
    with database.reading() as db:
        before = db.execute(
            "SELECT * FROM research_requests WHERE request_id = ?", (erased_request.request_id,)
        ).fetchone()
        sealed_reason = db.execute(
            "SELECT amend_reason_sealed FROM screening_decisions WHERE decision_id = 'd-2'"
        ).fetchone()[0]
    projection.apply_all([erased_item, kept_item], topic="", partition=-1, next_offset=0)

    erased = erase_child(ERASED, projections=[projection], research=research, screening=screening)

    assert erased == ChildErased(
        feed_items=1, research_checks=1, decisions_blanked=2
    )  # d-1 and d-2
    assert research.get(erased_request.request_id) is None
    assert research.for_partner(NAVIGATOR) == [research.get(kept_request.request_id)]
    decision = screening.decision("d-2")
    assert decision is not None  # still decided (its contacts stay decided), about nobody
    assert (decision.amend_reason, decision.child_key) == (None, None)
    kept = screening.decision("d-3")
    assert kept is not None
    assert kept.amend_reason == REASON  # the other child's reason is untouched
    raw = _file_bytes(path)
    assert KEPT.encode() in raw
    assert ERASED.encode() not in raw
    assert FINDINGS.encode() not in raw
    # A copy of the erased rows taken before erasure (a leftover page, a restored row) no
    # longer opens: the child's ledger key is gone.
    with database.transaction() as db:
        db.execute(
            f"INSERT INTO research_requests VALUES ({', '.join('?' * len(before.keys()))})",
            tuple(before),
        )
        db.execute(
            "UPDATE screening_decisions SET amend_reason_sealed = ?, child_key = ? "
            "WHERE decision_id = 'd-2'",
            (sealed_reason, ERASED),
        )
        assert (
            db.execute(
                "SELECT count(*) FROM child_keys WHERE subscriber_id = ?", (LEDGER_HOLDER,)
            ).fetchone()[0]
            == 1
        )  # KEPT's
    with pytest.raises(SealedValueUnreadable):
        research.get(erased_request.request_id)
    with pytest.raises(SealedValueUnreadable):
        screening.decision("d-2")


def test_ledgers_kept_in_clear_are_sealed_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    database = PrivateSqlite(path)
    with database.transaction() as db:  # the tables as the releases before sealing made them
        db.execute(
            "CREATE TABLE research_requests (request_id TEXT PRIMARY KEY, notice_id TEXT NOT "
            "NULL, child_key TEXT NOT NULL, partner TEXT NOT NULL, requested_by_subject TEXT "
            "NOT NULL, requested_by_name TEXT NOT NULL, requested_at TEXT NOT NULL, due_by "
            "TEXT NOT NULL, question TEXT, answered_by_subject TEXT, answered_by_name TEXT, "
            "answered_at TEXT, nothing_known INTEGER, findings TEXT, partner_rag TEXT, "
            "UNIQUE (notice_id, partner))"
        )
        db.execute(
            "INSERT INTO research_requests VALUES "
            "('r-1', 'n-1', ?, ?, 'u-morgan', 'Morgan Ashby', ?, ?, ?, "
            "'u-hollis', 'Hollis Brae', ?, 0, ?, 'AMBER')",
            (
                ERASED,
                NAVIGATOR,
                NOW.isoformat(),
                NOW.isoformat(),
                QUESTION,
                NOW.isoformat(),
                FINDINGS,
            ),
        )
        db.execute(
            "CREATE TABLE screening_decisions (decision_id TEXT PRIMARY KEY, form_token TEXT "
            "NOT NULL UNIQUE, decided_by_subject TEXT NOT NULL, decided_by_name TEXT NOT NULL, "
            "decided_by_role TEXT NOT NULL, decided_at TEXT NOT NULL, outcome TEXT NOT NULL, "
            "rag TEXT NOT NULL, covers TEXT NOT NULL, amends TEXT, amend_reason TEXT, "
            "sent_at TEXT)"
        )
        for decision_id, covers in (("d-2", "c-1"), ("d-9", "c-9")):
            db.execute(
                "INSERT INTO screening_decisions VALUES (?, ?, 'u-morgan', 'Morgan Ashby', "
                "'MASH_MANAGER', ?, 'NFA', 'GREEN', ?, 'd-1', ?, NULL)",
                (decision_id, f"t-{decision_id}", NOW.isoformat(), json.dumps([covers]), REASON),
            )
        # The projection's item table (as kept since sealing): only a covered contact names
        # d-2's child; no feed holds anything of d-9's any more.
        db.execute("CREATE TABLE feed_entries (notice_id TEXT NOT NULL, linkage_key TEXT)")
        db.execute("INSERT INTO feed_entries VALUES ('c-1', ?)", (ERASED,))
    assert QUESTION.encode() in _file_bytes(path)  # in clear before

    research = ResearchLedger(database, STORE_KEYS)
    screening = SqliteLedger(database, STORE_KEYS)

    check = research.get("r-1")
    assert check is not None
    assert check.request.question == QUESTION
    assert check.findings is not None
    assert check.findings.findings == FINDINGS
    sealed = screening.decision("d-2")
    assert sealed is not None
    assert (sealed.amend_reason, sealed.child_key) == (REASON, ERASED)
    orphan = screening.decision("d-9")
    assert orphan is not None
    assert (orphan.amend_reason, orphan.child_key) == (None, None)
    raw = _file_bytes(path)
    for secret in SECRETS:
        assert secret.encode() not in raw
    # Opening again changes nothing (the clear columns are gone).
    assert ResearchLedger(database, STORE_KEYS).get("r-1") == check
    assert dataclasses.replace(sealed) == SqliteLedger(database, STORE_KEYS).decision("d-2")


def test_a_ledger_on_disk_without_the_store_keys_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="child keys"):
        ResearchLedger(PrivateSqlite(tmp_path / "console.sqlite"))


def test_an_amendment_reason_without_its_child_is_not_kept(tmp_path: Path) -> None:
    ledger = SqliteLedger(PrivateSqlite(tmp_path / "console.sqlite"), STORE_KEYS)
    with pytest.raises(ValueError, match="child"):
        _record(ledger, dataclasses.replace(_amendment(ERASED), child_key=None))
    with sqlite3.connect(tmp_path / "console.sqlite") as db:
        kept = db.execute("SELECT decision_id FROM screening_decisions").fetchall()
    assert kept == [("d-1",)]  # the decision it amends; nothing of the amendment
