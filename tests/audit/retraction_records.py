"""Withdrawals in the audit log as their producers write them (issue 18): RETRACTION_DELIVERED
audit records built by the gateway's own `retraction_audit_record` for each recipient of the
original, and RETRACTION_ACKNOWLEDGED console events built by the console's own
`retraction_acknowledged_event`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from services.console.domain.access import Requester
from services.console.domain.consultations import (
    ConsultationPurpose,
    retraction_acknowledged_event,
)
from services.gateway.domain.records import retraction_audit_record
from services.hubkit.retraction import RetractionReason, new_retraction
from tests.audit.records import TOPOLOGY
from tests.factories import FIXED_NOW

# The recipients of the synthetic decisions (tests/audit/records.py) that were given the
# notice: every outcome but DENY (return-interview-provider).
RECIPIENTS = (
    "mash-manager",
    "mash-health-navigator",
    "mash-police-researcher",
    "responsible-la",
    "school-dsl",
)


def retraction_of(
    notice: dict[str, Any], reason: RetractionReason = RetractionReason.WRONG_CHILD
) -> dict[str, Any]:
    source = notice["source"]
    return new_retraction(
        agency=source["agency"],
        organisation_code=source["organisation_code"],
        source_reference=source["source_reference"],
        subject_linkage_key=notice["subject"]["linkage_key"],
        reason=reason,
        retracted_at=FIXED_NOW,
    )


def deliveries(
    notice: dict[str, Any],
    *,
    reason: RetractionReason = RetractionReason.WRONG_CHILD,
    to: Iterable[str] = RECIPIENTS,
    at: dt.datetime = FIXED_NOW + dt.timedelta(days=1),
) -> list[dict[str, Any]]:
    """One RETRACTION_DELIVERED record per recipient, as the gateway writes them."""
    retraction = retraction_of(notice, reason)
    return [
        retraction_audit_record(
            retraction=retraction,
            subscriber=TOPOLOGY.subscriber(s),
            notice_type=notice["notice_type"],
            delivered_at=at,
        )
        for s in to
    ]


def acknowledgement(
    notice: dict[str, Any],
    subscriber_id: str,
    *,
    roles: tuple[str, ...] = ("SOCIAL_WORKER",),
    at: dt.datetime = FIXED_NOW + dt.timedelta(days=2),
    retraction_id: str | None = None,
) -> dict[str, Any]:
    """A person at `subscriber_id`'s desk acknowledges the withdrawal, as the console logs it."""
    return retraction_acknowledged_event(
        access_id=str(uuid.uuid4()),
        requester=Requester("u-desk-1", roles, TOPOLOGY.subscriber(subscriber_id)),
        purpose=ConsultationPurpose.CASE_WORK,
        retraction_id=retraction_id or str(retraction_of(notice)["retraction_id"]),
        notice_id=notice["notice_id"],
        linkage_key=notice["subject"]["linkage_key"],
        source_agency=notice["source"]["agency"],
        at=at,
    )
