"""A review-queue decision made in the console (LINKAGE_DECIDED) is logged as a console
access event, never as a decision, and the IG view shows it with keys and digest only."""

from __future__ import annotations

import hashlib

from services.audit.indexer import EntryKind
from services.audit.reports import console_access_view
from services.audit.storage import StoredLeaf
from services.console.domain.access import Requester, linkage_decided_event
from services.hubkit.audit_trail import ACCESS_STREAM, read_logged_record, seal_audit_record
from services.hubkit.topology import AUDIT_ACCESS_TOPIC
from tests.audit.records import CONSOLE_KEY, TOPOLOGY, logged
from tests.factories import FIXED_NOW, catalog

CATALOG = catalog()
LEFT, RIGHT = "a" * 64, "b" * 64
RATIONALE = "Robin Example's school and DOB match."


def test_a_linkage_decision_is_logged_and_shown_without_its_rationale() -> None:
    event = linkage_decided_event(
        requester=Requester("u-manager", ("MASH_MANAGER",), TOPOLOGY.subscriber("mash-manager")),
        review_id="7a490197-5291-456d-bfa2-83980c4a7f4e",
        left_child_key=LEFT,
        right_child_key=RIGHT,
        same_child=True,
        surviving_child_key=LEFT,
        match_probability=0.81,
        rationale=RATIONALE,
        at=FIXED_NOW,
    )
    data = seal_audit_record(CATALOG, ACCESS_STREAM, event, CONSOLE_KEY, FIXED_NOW)
    entry = logged(data, topic=AUDIT_ACCESS_TOPIC, offset=9)
    assert entry.kind is EntryKind.CONSOLE_ACCESS
    assert entry.rejection is None
    assert entry.columns.event == "LINKAGE_DECIDED"
    assert b"Robin Example" not in data

    leaf = StoredLeaf(
        leaf_index=4,
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
    assert view.event == "LINKAGE_DECIDED"
    assert view.refusal_reason is None
    assert view.linkage is not None
    assert (view.linkage.outcome, view.linkage.surviving_child_key) == ("SAME_CHILD", LEFT)
    assert (view.linkage.left_child_key, view.linkage.right_child_key) == (LEFT, RIGHT)
    digest = hashlib.sha256(RATIONALE.encode()).hexdigest()
    assert view.linkage.rationale_sha256 == f"sha256:{digest}"
