"""The consultation log (DPA 2018 s62: who consulted which records, when and why): every
successful view of a notice or a child's chronology, an acknowledged immediate-danger alert
and an amended decision become ConsoleAccess events (NOTICE_VIEWED, CHILD_VIEWED,
DANGER_ACKNOWLEDGED, DECISION_AMENDED), each written before the page is returned.

Who: the person (`access.Requester`: identity provider subject, roles, the feed they read).
What: pseudonymous child keys, notice ids (or, for a long chronology, their count and a
digest), the agencies whose notices were shown; never anything shown on the page. Why: a
purpose from a fixed list (`ConsultationPurpose`), worked out from who the person is and how
they reached the page, never typed. The child's key is the column the audit log indexes, so
a subject access report lists who consulted the child's records.

What is not a consultation here (and why) is in services/console/README.md, "Every view
audited": queue pages, the live queue fragment, and a live refresh of a child page that shows
nothing new are covered by the views they summarise or repeat.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from services.console.domain.access import (
    Requester,
    console_access_event,
    text_digest,
)
from services.hubkit.access_events import NOTICE_IDS_LISTED, consultation_part, notice_ids_digest
from services.hubkit.audit_trail import CHILD_KEY_FORM, recorded_token
from services.hubkit.topology import SubscriberEntry

__all__ = [
    "NOTICE_IDS_LISTED",
    "ConsultationPurpose",
    "child_viewed_event",
    "consultation_purpose",
    "danger_acknowledged_event",
    "decision_amended_event",
    "decision_amendment_access_id",
    "notice_ids_digest",
    "notice_viewed_event",
    "retraction_acknowledged_event",
]

# Amendment access ids: uuid5(this, "<amendment decision id>"): writing it again (a
# resubmitted form) is the same log entry.
_AMENDMENTS = uuid.UUID("0c8e1d2a-6b7f-5e3d-9a41-5afe11a6e001")


class ConsultationPurpose(StrEnum):
    """schemas/avro/safehub.audit.ConsultationPurpose.avsc."""

    MASH_TRIAGE = "MASH_TRIAGE"
    PARTNER_RESEARCH = "PARTNER_RESEARCH"
    CASE_WORK = "CASE_WORK"
    CHILD_SEARCH = "CHILD_SEARCH"


def consultation_purpose(
    *, subscriber: SubscriberEntry | None, may_decide: bool, from_search: bool
) -> ConsultationPurpose:
    """Why this person is looking: opened from a search result (the search's own event holds
    the purpose they chose), else from who they are: a MASH decision maker triages, a MASH
    partner who does not decide researches for the MASH, anyone outside it works the case."""
    if from_search:
        return ConsultationPurpose.CHILD_SEARCH
    if may_decide:
        return ConsultationPurpose.MASH_TRIAGE
    if subscriber is not None and subscriber.inside_mash:
        return ConsultationPurpose.PARTNER_RESEARCH
    return ConsultationPurpose.CASE_WORK


def _consultation(
    *,
    purpose: ConsultationPurpose,
    subject_linkage_key: str,
    child_keys: Iterable[str],
    notice_ids: Iterable[str],
    source_agencies: Iterable[str],
    live_update: bool,
) -> dict[str, Any]:
    # Shared with CP-IS's views under emergency access (services/hubkit/access_events.py).
    return consultation_part(
        purpose=purpose.value,
        subject_linkage_key=subject_linkage_key,
        child_keys=child_keys,
        notice_ids=notice_ids,
        source_agencies=source_agencies,
        live_update=live_update,
    )


def _one_notice_event(
    event: str,
    *,
    access_id: str,
    requester: Requester,
    purpose: ConsultationPurpose,
    notice_id: str,
    linkage_key: str,
    source_agency: str,
    at: dt.datetime,
    retraction_id: str | None = None,
    break_glass_request_id: str | None = None,
) -> dict[str, Any]:
    return console_access_event(
        access_id=access_id,
        event=event,
        requester=requester,
        at=at,
        notice_id=notice_id,
        retraction_id=retraction_id,
        break_glass_request_id=break_glass_request_id,
        consultation=_consultation(
            purpose=purpose,
            subject_linkage_key=linkage_key,
            child_keys=[linkage_key],
            notice_ids=[notice_id],
            source_agencies=[source_agency],
            live_update=False,
        ),
    )


def notice_viewed_event(
    *,
    access_id: str,
    requester: Requester,
    purpose: ConsultationPurpose,
    notice_id: str,
    linkage_key: str,
    source_agency: str,
    at: dt.datetime,
    break_glass_request_id: str | None = None,
) -> dict[str, Any]:
    """NOTICE_VIEWED: `requester` opened one notice of their feed (GET /items/{id}); with
    `break_glass_request_id` when the page showed that emergency access grant's content
    (issue 18: every view under a grant is in the log with its grant)."""
    return _one_notice_event(
        "NOTICE_VIEWED",
        access_id=access_id,
        requester=requester,
        purpose=purpose,
        notice_id=notice_id,
        linkage_key=linkage_key,
        source_agency=source_agency,
        at=at,
        break_glass_request_id=break_glass_request_id,
    )


def child_viewed_event(
    *,
    access_id: str,
    requester: Requester,
    purpose: ConsultationPurpose,
    child_key: str,
    shown: Iterable[tuple[str, str, str]],
    at: dt.datetime,
    live_update: bool = False,
) -> dict[str, Any]:
    """CHILD_VIEWED: `requester` was shown the chronology of the child the index keeps as
    `child_key`; `shown` is (notice id, linkage key, source agency) for every entry."""
    entries = list(shown)
    return console_access_event(
        access_id=access_id,
        event="CHILD_VIEWED",
        requester=requester,
        at=at,
        consultation=_consultation(
            purpose=purpose,
            subject_linkage_key=child_key,
            child_keys=[child_key, *(key for _, key, _ in entries)],
            notice_ids=[nid for nid, _, _ in entries],
            source_agencies=[agency for _, _, agency in entries],
            live_update=live_update,
        ),
    )


def danger_acknowledged_event(
    *,
    access_id: str,
    requester: Requester,
    purpose: ConsultationPurpose,
    notice_id: str,
    linkage_key: str,
    source_agency: str,
    at: dt.datetime,
) -> dict[str, Any]:
    """DANGER_ACKNOWLEDGED: `requester` said "I have seen this" on an immediate-danger alert
    (the alert names the child and summarises the contact: a consultation of it)."""
    return _one_notice_event(
        "DANGER_ACKNOWLEDGED",
        access_id=access_id,
        requester=requester,
        purpose=purpose,
        notice_id=notice_id,
        linkage_key=linkage_key,
        source_agency=source_agency,
        at=at,
    )


def retraction_acknowledged_event(
    *,
    access_id: str,
    requester: Requester,
    purpose: ConsultationPurpose,
    retraction_id: str,
    notice_id: str,
    linkage_key: str,
    source_agency: str,
    at: dt.datetime,
) -> dict[str, Any]:
    """RETRACTION_ACKNOWLEDGED: `requester`, at the recipient desk (their feed), acknowledged
    that `source_agency` withdrew notice `notice_id` (issue 18): the originating agency's
    receipt. The consultation part names the child's key, so the audit log indexes it under
    the child as well as the notice; the page showed no content, only the withdrawal."""
    return _one_notice_event(
        "RETRACTION_ACKNOWLEDGED",
        access_id=access_id,
        requester=requester,
        purpose=purpose,
        notice_id=notice_id,
        linkage_key=linkage_key,
        source_agency=source_agency,
        at=at,
        retraction_id=retraction_id,
    )


def decision_amendment_access_id(amendment_decision_id: str) -> str:
    """The same id whenever this amendment is recorded (a resubmitted form)."""
    return str(uuid.uuid5(_AMENDMENTS, amendment_decision_id))


def decision_amended_event(
    *,
    requester: Requester,
    amended_decision_id: str,
    amendment_decision_id: str,
    child_key: str,
    reason: str,
    at: dt.datetime,
) -> dict[str, Any]:
    """DECISION_AMENDED: `requester` amended a MASH decision; the reason only as a digest
    (it may name people; the amendment notice carries it inside the MASH)."""
    return console_access_event(
        access_id=decision_amendment_access_id(amendment_decision_id),
        event="DECISION_AMENDED",
        requester=requester,
        at=at,
        amendment={
            "amended_decision_id": str(uuid.UUID(amended_decision_id)),
            "amendment_decision_id": str(uuid.UUID(amendment_decision_id)),
            "child_key": recorded_token(child_key, CHILD_KEY_FORM),
            "reason_sha256": text_digest(reason),
        },
    )
