"""Withdrawals through the indexer into the real store, on SQLite and PostgreSQL (issue 18):
RETRACTION_DELIVERED records signed with the hub key and RETRACTION_ACKNOWLEDGED events
signed with the console key are leaves found by notice id and child key; a forged delivery
is a rejected leaf and never a receipt."""

from __future__ import annotations

import uuid

from services.audit.indexer import EntryKind
from services.audit.retraction_api import notice_withdrawals, receipts_for_notice
from services.audit.storage import DecisionQuery
from services.audit.storage_sql import SqlAuditStore
from services.hubkit.audit_trail import ACCESS_STREAM, seal_audit_record
from services.hubkit.topology import AUDIT_ACCESS_TOPIC
from tests.audit.records import CONSOLE_KEY, TOPOLOGY, audit_records, encode, logged
from tests.audit.retraction_records import RECIPIENTS, acknowledgement, deliveries
from tests.factories import FIXED_NOW, catalog, notices

CATALOG = catalog()
AGENCIES = {a.organisation: a.code for a in TOPOLOGY.agencies}


def test_receipts_are_found_by_notice_and_child(store: SqlAuditStore) -> None:
    gen = notices(uuid.uuid4().int % 10**6)
    notice, kept = gen.notice("HEALTH_SAFEGUARDING_ALERT"), gen.notice("SAFEGUARDING_CONTACT")
    child = notice["subject"]["linkage_key"]
    decided = [*audit_records(notice), *audit_records(kept)]
    delivered = deliveries(notice)
    ack = acknowledgement(notice, "responsible-la")
    forged = deliveries(notice, to=["return-interview-provider"])[0]
    entries = [
        *(logged(encode(CATALOG, r), offset=n) for n, r in enumerate([*decided, *delivered])),
        logged(encode(CATALOG, forged, key=CONSOLE_KEY), offset=99),
        logged(
            seal_audit_record(CATALOG, ACCESS_STREAM, ack, CONSOLE_KEY, FIXED_NOW),
            topic=AUDIT_ACCESS_TOPIC,
            offset=5,
        ),
    ]
    store.append(entries, appended_at_ms=1)

    by_notice = store.find(
        DecisionQuery(notice_id=notice["notice_id"], event="RETRACTION_DELIVERED")
    )
    assert sorted(leaf.columns.recipient_subscriber_id or "" for leaf in by_notice) == sorted(
        RECIPIENTS
    )
    by_child = store.find(DecisionQuery(subject_linkage_key=child, event="RETRACTION_DELIVERED"))
    assert len(by_child) == len(RECIPIENTS)
    (ack_leaf,) = store.find(
        DecisionQuery(
            kind=EntryKind.CONSOLE_ACCESS,
            subject_linkage_key=child,
            event="RETRACTION_ACKNOWLEDGED",
        )
    )
    assert ack_leaf.columns.notice_id == notice["notice_id"]
    assert store.count_of_kind(EntryKind.REJECTED) == 1  # the forgery, as a rejection only

    receipts = receipts_for_notice(store, CATALOG, notice["notice_id"])
    assert receipts is not None
    assert [d.subscriber_id for d in receipts.delivered] == sorted(RECIPIENTS)
    assert [a.subscriber_id for a in receipts.acknowledged] == ["responsible-la"]
    assert "return-interview-provider" not in receipts.not_acknowledged
    assert receipts_for_notice(store, CATALOG, kept["notice_id"]) is None

    lines = notice_withdrawals(store, CATALOG, {notice["notice_id"], kept["notice_id"]}, AGENCIES)
    assert {(w.notice_id, w.text) for w in lines} == {
        (notice["notice_id"], "Withdrawn by Health: wrong child")
    }
    assert len(lines) == len(RECIPIENTS)
