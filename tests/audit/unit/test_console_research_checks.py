"""An agency check in the MASH (RESEARCH_REQUESTED, RESEARCH_ANSWERED) is logged as a console
access event, indexed by the child's key and the contact, and the IG view shows it with ids,
codes and digests only: the question and findings stay in the console (issue 16, item 6)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from services.audit.indexer import EntryKind
from services.audit.reports import console_access_view
from services.audit.storage import StoredLeaf
from services.console.domain.access import Requester, research_answered_event
from services.console.domain.research import Researcher, ResearchFindings, ResearchRequest
from services.hubkit.audit_trail import ACCESS_STREAM, read_logged_record, seal_audit_record
from services.hubkit.topology import AUDIT_ACCESS_TOPIC
from tests.audit.records import CONSOLE_KEY, TOPOLOGY, logged
from tests.factories import FIXED_NOW, catalog

CATALOG = catalog()
CHILD = "c" * 64
FINDINGS = "Robin Example attended A&E twice with bruising."


def test_an_answered_check_is_logged_by_child_and_shown_without_its_findings() -> None:
    request = ResearchRequest(
        request_id=str(uuid.uuid4()),
        notice_id=str(uuid.uuid4()),
        child_key=CHILD,
        partner="mash-health-navigator",
        requested_by=Researcher("u-manager", "Morgan"),
        requested_at=FIXED_NOW,
        due_by=FIXED_NOW + dt.timedelta(hours=4),
        question="Anything on Robin Example?",
    )
    findings = ResearchFindings(False, FINDINGS, "RED", Researcher("u-nurse", "Hollis"), FIXED_NOW)
    event = research_answered_event(
        access_id=str(uuid.uuid4()),
        requester=Requester(
            "u-nurse", ("HEALTH_NAVIGATOR",), TOPOLOGY.subscriber("mash-health-navigator")
        ),
        request=request,
        findings=findings,
        at=FIXED_NOW,
    )
    data = seal_audit_record(CATALOG, ACCESS_STREAM, event, CONSOLE_KEY, FIXED_NOW)
    assert b"Robin Example" not in data
    entry = logged(data, topic=AUDIT_ACCESS_TOPIC, offset=11)
    assert entry.kind is EntryKind.CONSOLE_ACCESS
    assert entry.rejection is None
    assert (entry.columns.event, entry.columns.notice_id) == (
        "RESEARCH_ANSWERED",
        request.notice_id,
    )
    assert entry.columns.subject_linkage_key == CHILD  # a subject access request finds it

    leaf = StoredLeaf(
        leaf_index=5,
        leaf_hash=entry.leaf_hash,
        data=data,
        kind=entry.kind,
        entry_id=entry.entry_id,
        duplicate_of=None,
        columns=entry.columns,
        source=entry.source,
        appended_at_ms=0,
    )
    view = console_access_view(leaf, read_logged_record(CATALOG, data).record, signed_by="k1")
    assert view.event == "RESEARCH_ANSWERED"
    assert view.research is not None
    assert (view.research.partner, view.research.child_key) == ("mash-health-navigator", CHILD)
    assert (view.research.answer, view.research.partner_rag) == ("INFORMATION_HELD", "RED")
    assert view.research.request_id == request.request_id
    digest = hashlib.sha256(FINDINGS.encode()).hexdigest()
    assert view.research.findings_sha256 == f"sha256:{digest}"
