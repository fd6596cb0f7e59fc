"""Build the audit record, feed item and dead-letter record for a decided or rejected notice.

Plain functions: the clock and the policy revision are passed in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from services.gateway.domain.redaction import is_permitted, redact, withheld_paths
from services.hubkit.audit_trail import retention_review_date
from services.hubkit.notice import decision_id_for
from services.hubkit.retraction import delivery_decision_id, withdrawn_text
from services.hubkit.sharing_decisions import CLASSIFICATION_ORDER, SharingDecision
from services.hubkit.topology import SubscriberEntry

__all__ = [
    "RELAY_AGENCY",
    "audit_record",
    "dead_letter",
    "feed_item",
    "feed_retraction",
    "feed_withheld",
    "no_decision_record",
    "recipient_record",
    "redacted_view_json",
    "rejection_audit_record",
    "retraction_audit_record",
]

# When a decision withholds the source (e.g. R10: the voluntary sector is not told who sent a
# notice), the feed item names the MASH as the agency it came through and the MASH's relay
# contact point as who to contact, never the source's own (nor the source's generic one).
RELAY_AGENCY = "MASH"


def audit_record(
    *,
    notice: dict[str, Any],
    decision: SharingDecision,
    subscriber: SubscriberEntry,
    policy_revision: str,
    decided_at: dt.datetime,
    held: frozenset[str] | None = None,
    withheld: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """`held` (present_paths of the notice) and `withheld` (what this decision withholds)
    may be passed when the caller already computed them."""
    discloses = decision.discloses
    if withheld is None:
        withheld = withheld_paths(notice, decision.permitted_fields if discloses else (), held=held)
    grading = notice.get("intelligence_grading") or {}
    return {
        "decision_id": decision_id_for(
            notice_id=notice["notice_id"], subscriber_id=subscriber.subscriber_id
        ),
        "event": "SHARING_DECISION",
        "notice_id": notice["notice_id"],
        "notice_type": notice["notice_type"],
        "subject_linkage_key": notice["subject"]["linkage_key"],
        "decided_at": decided_at,
        # Disclosure happens when the transaction holding this record commits.
        "disclosed_at": decided_at if discloses else None,
        "recipient": recipient_record(subscriber),
        "originating_controller": notice["source"]["organisation_code"],
        "purpose": decision.purpose if discloses else None,
        "lawful_basis": decision.lawful_basis.as_record(),
        "consent_status": notice["consent"]["status"],
        "consent_reason_not_sought": notice["consent"].get("reason_not_sought"),
        "family_informed": notice["family_informed"]["informed"],
        "family_not_informed_reason": notice["family_informed"].get("reason_not_informed"),
        "outcome": decision.outcome.value,
        "fields_disclosed": sorted(decision.permitted_fields) if discloses else [],
        "fields_withheld": list(withheld),
        "classification": notice.get("classification"),
        "handling_code": grading.get("handling_code"),
        "policy_revision": policy_revision,
        "rule_ids": list(decision.rule_ids),
        "isa_clause": decision.isa_clause,
        "explanation": decision.explanation,
        "reason_code": decision.reason_code,
        "human_decision_maker": None,
        "human_rationale": None,
        "break_glass": False,
        "break_glass_justification": None,
        "retention_review_date": retention_review_date(decided_at),
        "merkle_leaf_index": None,
    }


def feed_withheld(withheld: Iterable[str], silent: frozenset[str]) -> tuple[str, ...]:
    """What a recipient is told was withheld: everything but the silent paths (and what lies
    under them). Naming e.g. detail.source_details or referrer as withheld would tell the
    recipient that a source or a referrer exists; the audit record keeps the full list."""
    return tuple(path for path in withheld if not is_permitted(path, silent))


def feed_item(
    *,
    notice: dict[str, Any],
    decision: SharingDecision,
    policy_revision: str,
    envelope_sha256: bytes,
    decided_at: dt.datetime,
    relay_contact: Mapping[str, str | None],
    safeguarding_contacts: Mapping[str, Mapping[str, str | None]],
    silent: frozenset[str],
    held: frozenset[str] | None = None,
    withheld: tuple[str, ...] | None = None,
    view_json: str | None = None,
    field_provenance: str | None = None,
) -> dict[str, Any]:
    """The subscriber's copy. Every field of it is either permitted by the decision, the
    decision's own metadata, or a contact that names no more than the decision permits.

    The contact point: the notice's own when permitted. Otherwise, when the source agency
    may be named, that agency's generic safeguarding contact (`safeguarding_contacts`, by
    agency code): the notice's contact can itself disclose (a sexual health clinic's nurse
    says which service the child attended), the agency's front door says only "contact the
    safeguarding team". Otherwise, or when the agency has none, the MASH relay.

    `fields_withheld` never names a `silent` path (see feed_withheld).

    `withheld` (withheld_paths of the decision's permitted set, before the silent paths are
    taken out) and `view_json` (`redacted_view_json(notice, decision.permitted_fields)`) may
    be passed when the caller already has them: subscribers often share a permitted set."""
    permitted = frozenset(decision.permitted_fields)
    agency_named = is_permitted("source.agency", permitted)
    source_agency = notice["source"]["agency"] if agency_named else RELAY_AGENCY
    if is_permitted("contact_point", permitted):
        contact_point = notice["contact_point"]
    else:
        agency_contact = safeguarding_contacts.get(source_agency) if agency_named else None
        contact_point = dict(agency_contact if agency_contact is not None else relay_contact)
    if withheld is None:
        withheld = withheld_paths(notice, permitted, held=held)
    return {
        "notice_id": notice["notice_id"],
        "decision_id": decision_id_for(
            notice_id=notice["notice_id"], subscriber_id=decision.subscriber_id
        ),
        "subscriber_id": decision.subscriber_id,
        "notice_type": notice["notice_type"],
        "subject_linkage_key": notice["subject"]["linkage_key"],
        "outcome": decision.outcome.value,
        "view_json": redacted_view_json(notice, permitted, decision.handling_caveat)
        if view_json is None
        else view_json,
        "fields_withheld": list(feed_withheld(withheld, silent)),
        "explanation": decision.explanation,
        "lawful_basis": decision.lawful_basis.as_record(),
        "purpose": decision.purpose,
        "isa_clause": decision.isa_clause,
        "rule_ids": list(decision.rule_ids),
        "policy_revision": policy_revision,
        "notice_sha256": envelope_sha256,
        "source_agency": source_agency,
        "contact_point": contact_point,
        "decided_at": decided_at,
        "break_glass": None,  # a sharing decision, not emergency access
        "field_provenance": field_provenance,
    }


def redacted_view_json(
    notice: dict[str, Any], permitted: Iterable[str], caveat: str | None = None
) -> str:
    """The feed item's view of `notice`: only the permitted paths, as canonical JSON. A
    handling caveat raises the view's classification (never lowers it)."""
    view = redact(notice, permitted)
    if caveat is not None and "classification" in view:
        view["classification"] = max(view["classification"], caveat, key=_classification_rank)
    # UTF-8, not \u escapes: escaping made a view of non-ASCII text up to six times the size
    # of the notice it came from, and a view past the broker's record limit stalled its
    # partition (issue 13).
    return json.dumps(view, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _classification_rank(classification: str | None) -> int:
    # An unknown marking ranks highest: it is never replaced by a lower one.
    if classification in CLASSIFICATION_ORDER:
        return CLASSIFICATION_ORDER.index(classification)
    return len(CLASSIFICATION_ORDER)


def recipient_record(subscriber: SubscriberEntry) -> dict[str, Any]:
    """The audit record's Recipient for a subscriber."""
    return {
        "subscriber_id": subscriber.subscriber_id,
        "agency": subscriber.agency,
        "organisation": subscriber.organisation,
        "role": subscriber.role,
        "team": subscriber.team,
    }


def no_decision_record(
    *,
    decision_id: str,
    event: str,
    at: dt.datetime,
    explanation: str,
    reason_code: str,
    **fields: Any,
) -> dict[str, Any]:
    """An audit record that carries no sharing decision (a rejection, a delivered withdrawal,
    a refused emergency access request): nothing disclosed, no basis, no rules; `fields`
    sets the few values such a record does carry (notice, recipient, purpose, ...)."""
    record: dict[str, Any] = {
        "decision_id": decision_id,
        "event": event,
        "notice_id": None,
        "notice_type": None,
        "subject_linkage_key": None,
        "decided_at": at,
        "disclosed_at": None,
        "recipient": None,
        "originating_controller": None,
        "purpose": None,
        "lawful_basis": None,
        "consent_status": None,
        "consent_reason_not_sought": None,
        "family_informed": None,
        "family_not_informed_reason": None,
        "outcome": None,
        "fields_disclosed": [],
        "fields_withheld": [],
        "classification": None,
        "handling_code": None,
        "policy_revision": "none",
        "rule_ids": [],
        "isa_clause": None,
        "explanation": explanation,
        "reason_code": reason_code,
        "human_decision_maker": None,
        "human_rationale": None,
        "break_glass": False,
        "break_glass_justification": None,
        "retention_review_date": retention_review_date(at),
        "merkle_leaf_index": None,
    }
    unknown = set(fields) - set(record)
    if unknown:
        raise KeyError(f"not AuditRecord fields: {sorted(unknown)}")
    return record | fields


def rejection_audit_record(
    *,
    reason: str,
    detail: str,
    notice_id: str | None,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    rejected_at: dt.datetime,
) -> dict[str, Any]:
    # Rejections have no notice id we can trust, so the id is keyed on the bus position.
    key = notice_id or f"{source_topic}/{source_partition}/{source_offset}"
    return no_decision_record(
        decision_id=decision_id_for(notice_id=key, subscriber_id="rejected"),
        event="NOTICE_REJECTED",
        at=rejected_at,
        explanation=f"Rejected before any sharing decision: {detail}",
        reason_code=reason,
        notice_id=notice_id,
    )


def dead_letter(
    *,
    reason: str,
    detail: str,
    notice_id: str | None,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    key: bytes | None,
    value: bytes,
    rejected_at: dt.datetime,
) -> dict[str, Any]:
    return {
        "reason": reason,
        "detail": detail,
        "source_topic": source_topic,
        "source_partition": source_partition,
        "source_offset": source_offset,
        "notice_id": notice_id,
        "original_key": key,
        "original_value": value,
        "rejected_at": rejected_at,
    }


def retraction_audit_record(
    *,
    retraction: Mapping[str, Any],
    subscriber: SubscriberEntry,
    notice_type: str | None,
    delivered_at: dt.datetime,
) -> dict[str, Any]:
    """RETRACTION_DELIVERED: the withdrawal of a notice delivered to one of its recipients.
    About the original (its id, type and child), never re-decided and carrying none of its
    content; the original's SHARING_DECISION records stay as they are."""
    retraction_id = str(retraction["retraction_id"])
    reason = str(retraction["reason"])
    return no_decision_record(
        decision_id=delivery_decision_id(
            retraction_id=retraction_id, subscriber_id=subscriber.subscriber_id
        ),
        event="RETRACTION_DELIVERED",
        at=delivered_at,
        explanation=f"{withdrawn_text(retraction['source']['agency'], reason)}; the record "
        "of the original disclosure is kept",
        reason_code=reason,
        notice_id=str(retraction["retracted_notice_id"]),
        notice_type=notice_type,
        subject_linkage_key=str(retraction["subject_linkage_key"]),
        disclosed_at=delivered_at,
        recipient=recipient_record(subscriber),
        originating_controller=retraction["source"]["organisation_code"],
    )


def feed_retraction(
    *, retraction: Mapping[str, Any], subscriber_id: str, delivered_at: dt.datetime
) -> dict[str, Any]:
    """The FeedRetraction one recipient of the original receives: ids, the reason and times."""
    retraction_id = str(retraction["retraction_id"])
    return {
        "retraction_id": retraction_id,
        "notice_id": str(retraction["retracted_notice_id"]),
        "decision_id": delivery_decision_id(
            retraction_id=retraction_id, subscriber_id=subscriber_id
        ),
        "subscriber_id": subscriber_id,
        "subject_linkage_key": str(retraction["subject_linkage_key"]),
        "source_agency": retraction["source"]["agency"],
        "reason": str(retraction["reason"]),
        "replaced_by_notice_id": retraction.get("replaced_by_notice_id"),
        "retracted_at": retraction["retracted_at"],
        "delivered_at": delivered_at,
    }
