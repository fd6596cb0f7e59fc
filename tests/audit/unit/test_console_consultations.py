"""Views in the console (NOTICE_VIEWED, CHILD_VIEWED, DANGER_ACKNOWLEDGED) are logged as
console access events indexed under the child's key, so a subject access report lists who
looked at the child's records (issue 16, item 7): through the indexer, the real SQLite store
and the report, as the IG API builds it."""

from __future__ import annotations

import uuid
from pathlib import Path

from services.audit.indexer import EntryKind
from services.audit.reports import (
    LogPositionPublic,
    console_access_view,
    render_subject_access_html,
    subject_access_report,
)
from services.audit.storage import DecisionQuery
from services.audit.storage_sql import open_store
from services.console.domain.access import Requester
from services.console.domain.consultations import (
    ConsultationPurpose,
    child_viewed_event,
    decision_amended_event,
    notice_viewed_event,
)
from services.hubkit.audit_trail import ACCESS_STREAM, read_logged_record, seal_audit_record
from services.hubkit.topology import AUDIT_ACCESS_TOPIC
from tests.audit.records import CONSOLE_KEY, TOPOLOGY, logged
from tests.factories import FIXED_NOW, catalog

CATALOG = catalog()
CHILD, OTHER = "a" * 64, "b" * 64
RESEARCHER = Requester(
    "u-researcher-7", ("POLICE_RESEARCHER",), TOPOLOGY.subscriber("mash-police-researcher")
)


def sealed_notice_view(child: str, *, access_id: str | None = None) -> bytes:
    event = notice_viewed_event(
        access_id=access_id or str(uuid.uuid4()),
        requester=RESEARCHER,
        purpose=ConsultationPurpose.PARTNER_RESEARCH,
        notice_id=str(uuid.uuid4()),
        linkage_key=child,
        source_agency="POLICE",
        at=FIXED_NOW,
    )
    return seal_audit_record(CATALOG, ACCESS_STREAM, event, CONSOLE_KEY, FIXED_NOW)


def test_a_view_is_indexed_under_the_childs_key_with_its_purpose() -> None:
    entry = logged(sealed_notice_view(CHILD), topic=AUDIT_ACCESS_TOPIC, offset=2)
    assert entry.kind is EntryKind.CONSOLE_ACCESS
    assert entry.rejection is None
    assert entry.columns.event == "NOTICE_VIEWED"
    assert entry.columns.subject_linkage_key == CHILD
    assert entry.columns.purpose == "PARTNER_RESEARCH"
    amended = decision_amended_event(
        requester=RESEARCHER,
        amended_decision_id=str(uuid.uuid4()),
        amendment_decision_id=str(uuid.uuid4()),
        child_key=OTHER,
        reason="a reason",
        at=FIXED_NOW,
    )
    sealed = seal_audit_record(CATALOG, ACCESS_STREAM, amended, CONSOLE_KEY, FIXED_NOW)
    assert logged(sealed, topic=AUDIT_ACCESS_TOPIC).columns.subject_linkage_key == OTHER


def test_the_subject_access_report_lists_who_viewed_the_childs_records(tmp_path: Path) -> None:
    chronology = child_viewed_event(
        access_id=str(uuid.uuid4()),
        requester=RESEARCHER,
        purpose=ConsultationPurpose.CHILD_SEARCH,
        child_key=CHILD,
        shown=[(str(uuid.uuid4()), CHILD, "POLICE"), (str(uuid.uuid4()), CHILD, "HEALTH")],
        at=FIXED_NOW,
    )
    records = [
        sealed_notice_view(CHILD),
        seal_audit_record(CATALOG, ACCESS_STREAM, chronology, CONSOLE_KEY, FIXED_NOW),
        sealed_notice_view(OTHER),  # someone else's child: not in this child's report
    ]
    store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        store.append(
            [logged(r, topic=AUDIT_ACCESS_TOPIC, offset=n) for n, r in enumerate(records)],
            appended_at_ms=1,
        )
        leaves = store.find(DecisionQuery(kind=EntryKind.CONSOLE_ACCESS, subject_linkage_key=CHILD))
        assert store.find(DecisionQuery(subject_linkage_key=CHILD)) == []  # not decisions
    finally:
        store.close()
    views = []
    for leaf in leaves:
        logged_record = read_logged_record(CATALOG, leaf.data)
        views.append(console_access_view(leaf, logged_record.record, signed_by="k"))
    report = subject_access_report(
        subject_linkage_key=CHILD,
        decisions=[],
        generated_at=FIXED_NOW,
        log=LogPositionPublic(tree_size=3, root_hash="00", checkpoint_tree_size=None),
        consultations=views,
    )
    assert [(c.leaf_index, c.what) for c in report.consulted] == [
        (0, "viewed a record"),
        (1, "viewed the records held about you"),
    ]
    first, second = report.consulted
    assert (first.staff_id, first.roles, first.team) == (
        "u-researcher-7",
        ["POLICE_RESEARCHER"],
        TOPOLOGY.subscriber("mash-police-researcher").team,
    )
    assert first.purpose == "checking their agency's records for the MASH"
    assert (second.records_shown, second.source_agencies) == (2, ["HEALTH", "POLICE"])
    assert second.purpose == "opened from a search for you"
    page = render_subject_access_html(report)
    assert "Who looked at your records" in page
    assert "u-researcher-7" in page
    assert OTHER not in page
