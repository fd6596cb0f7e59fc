"""Emergency access grants for console tests, built as the gateway builds them (issue 18): a
FeedItem for the desk with `break_glass` set, its view only the paths granted; and the hub's
other answers, a BreakGlassRefusal for the desk that asked and a BreakGlassAlert for the
owning agency's alert desk (decoded records, as the feed follower sees them)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from services.console.domain.feed import FeedEntry
from services.hubkit.break_glass import BreakGlassRules, grant_decision_id
from services.hubkit.settings import REPO_ROOT

__all__ = ["RULES", "alert_record", "grant_item", "refusal_record"]

RULES = BreakGlassRules.load(REPO_ROOT / "policies")


def grant_item(
    desk_item: FeedEntry,
    *,
    requester_subject: str,
    granted_view: dict[str, Any],
    expires_at: dt.datetime,
    request_id: str | None = None,
    reason: str = "CHILD_PRESENTING_NOW",
) -> dict[str, Any]:
    """The decoded FeedItem of a grant answering a request on `desk_item`."""
    request_id = request_id or str(uuid.uuid4())
    view = {"notice_id": desk_item.notice_id, **granted_view}
    return {
        "notice_id": desk_item.notice_id,
        "decision_id": grant_decision_id(
            request_id=request_id, subscriber_id=desk_item.subscriber_id
        ),
        "subscriber_id": desk_item.subscriber_id,
        "notice_type": desk_item.notice_type,
        "subject_linkage_key": desk_item.linkage_key,
        "outcome": "PARTIAL",
        "view_json": json.dumps(view, sort_keys=True),
        "fields_withheld": [],
        "explanation": "Emergency access for MASH manager until 14:00 UTC.",
        "lawful_basis": {
            "article6": "UK GDPR Art 6(1)(d) vital interests",
            "special_category_condition": "UK GDPR Art 9(2)(c)",
            "dpa_part3": None,
            "statutory_gateway": "Children Act 2004 s11",
            "criminal_offence_condition": None,
            "recipient_basis": None,
        },
        "purpose": "EMERGENCY_ACCESS",
        "isa_clause": None,
        "rule_ids": [],
        "policy_revision": "break-glass",
        "notice_sha256": b"\x00" * 32,
        "field_provenance": None,
        "source_agency": desk_item.source_agency,
        "contact_point": {
            "role": desk_item.contact_point.role,
            "organisation": desk_item.contact_point.organisation,
            "telephone": desk_item.contact_point.telephone,
            "secure_email": None,
        },
        "decided_at": expires_at - dt.timedelta(hours=RULES.grant_hours),
        "break_glass": {
            "request_id": request_id,
            "requester_subject": requester_subject,
            "requester_role": "MASH_MANAGER",
            "reason": reason,
            "expires_at": expires_at,
        },
    }


def refusal_record(
    desk_item: FeedEntry,
    *,
    request_id: str,
    requester_subject: str,
    refused_at: dt.datetime,
    explanation: str = "The notice was not shared with your desk, so nothing of it can be given.",
    requested_paths: tuple[str, ...] = ("narrative.full_account",),
) -> dict[str, Any]:
    """The decoded BreakGlassRefusal the gateway writes on the desk that asked."""
    return {
        "request_id": request_id,
        "decision_id": f"refused-{request_id}",
        "notice_id": desk_item.notice_id,
        "subscriber_id": desk_item.subscriber_id,
        "subject_linkage_key": desk_item.linkage_key,
        "requester_subject": requester_subject,
        "requested_paths": list(requested_paths),
        "reason_code": "BREAK_GLASS_REFUSED",
        "explanation": explanation,
        "refused_at": refused_at,
    }


def alert_record(
    desk_item: FeedEntry,
    *,
    alert_desk: str,
    granted_at: dt.datetime,
    justification: str = "Child in the emergency department now.",
    granted_paths: tuple[str, ...] = ("narrative.full_account",),
    source_reference: str | None = "SYN-REF-0042",
    request_id: str | None = None,
) -> dict[str, Any]:
    """The decoded BreakGlassAlert the gateway writes on the owning agency's alert desk when
    it grants a request from `desk_item`'s desk."""
    request_id = request_id or str(uuid.uuid4())
    return {
        "alert_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{request_id} {alert_desk}")),
        "request_id": request_id,
        "grant_decision_id": grant_decision_id(
            request_id=request_id, subscriber_id=desk_item.subscriber_id
        ),
        "notice_id": desk_item.notice_id,
        "source_reference": source_reference,
        "subscriber_id": alert_desk,
        "subject_linkage_key": desk_item.linkage_key,
        "source_agency": desk_item.source_agency,
        "granted_to_subscriber_id": desk_item.subscriber_id,
        "granted_to_role": "MASH_MANAGER",
        "reason": "CHILD_PRESENTING_NOW",
        "justification": justification,
        "granted_paths": list(granted_paths),
        "granted_at": granted_at,
        "expires_at": granted_at + dt.timedelta(hours=RULES.grant_hours),
    }
