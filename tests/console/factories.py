"""Feed entries for unit tests, built the way the gateway builds feed items (a FeedItem record
with its JSON view), so the console's parsing is exercised too."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from services.console.domain.feed import FeedEntry, entry_from_feed_item
from services.hubkit.child_keys import ChildKeys
from services.hubkit.notice import decision_id_for

# A Wednesday, in UK winter time (UTC+0), mid-morning.
NOW = dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC)
# The console store's child keys in tests that reopen a database (a fixed key: what one
# ledger sealed, the next one opens).
STORE_KEYS = ChildKeys(b"the console tests' store key 32B", store="console")
AGENCIES = {
    "POLICE": "Synthetic Constabulary",
    "HEALTH": "Synthetic NHS Trust",
    "CHILDRENS_SERVICES": "Synthetic Borough Children's Services",
    "MASH": "Synthetic Borough MASH",
}
CHILD = "a" * 64
OTHER_CHILD = "b" * 64

_counter = 0


def view_of(
    *,
    notice_id: str,
    notice_type: str,
    linkage_key: str,
    risk: str | None = "MEDIUM",
    immediate_danger: bool = False,
    summary: str | None = "Synthetic summary.",
    given_name: str | None = "Avery",
    family_name: str | None = "Dunmore",
    created_at: dt.datetime | None = None,
    detail: dict[str, Any] | None = None,
    concerns: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    subject: dict[str, Any] = {"linkage_key": linkage_key, "age_years": 9}
    if given_name:
        subject["given_name"] = given_name
    if family_name:
        subject["family_name"] = family_name
    view: dict[str, Any] = {
        "notice_id": notice_id,
        "notice_type": notice_type,
        "subject": subject,
        "concerns": concerns
        if concerns is not None
        else [{"code": "NEGLECT", "census_factor": None}],
    }
    if risk is not None:
        view["risk"] = {"level": risk, "immediate_danger": immediate_danger}
    if summary is not None:
        view["narrative"] = {"summary": summary}
    if created_at is not None:
        view["created_at"] = created_at.isoformat(timespec="milliseconds")
    if detail is not None:
        view["detail"] = detail
    view.update(extra or {})
    return view


def entry(
    *,
    notice_type: str = "SAFEGUARDING_CONTACT",
    subscriber_id: str = "mash-manager",
    linkage_key: str = CHILD,
    received_at: dt.datetime = NOW,
    outcome: str = "PERMIT",
    withheld: tuple[str, ...] = (),
    source_agency: str = "POLICE",
    notice_id: str | None = None,
    policy_revision: str = "sha256:test",
    rule_ids: tuple[str, ...] = ("R1", "R2"),
    lawful_basis: dict[str, Any] | None = None,
    explanation: str = "Shared because the MASH triages contacts (R1, R2).",
    contact_point: dict[str, Any] | None = None,
    **view: Any,
) -> FeedEntry:
    global _counter
    _counter += 1
    notice_id = notice_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"notice-{_counter}"))
    item = {
        "notice_id": notice_id,
        "decision_id": decision_id_for(notice_id=notice_id, subscriber_id=subscriber_id),
        "subscriber_id": subscriber_id,
        "notice_type": notice_type,
        "subject_linkage_key": linkage_key,
        "outcome": outcome,
        "view_json": json.dumps(
            view_of(
                notice_id=notice_id,
                notice_type=notice_type,
                linkage_key=linkage_key,
                **view,
            ),
            sort_keys=True,
        ),
        "fields_withheld": list(withheld),
        "explanation": explanation,
        "lawful_basis": lawful_basis
        or {
            "article6": "UK GDPR Art 6(1)(e) public task",
            "special_category_condition": "UK GDPR Art 9(2)(g)",
            "dpa_part3": None,
            "statutory_gateway": "Children Act 2004 s10 and s11",
        },
        "purpose": "SAFEGUARDING_TRIAGE",
        "isa_clause": "ISA-4.1",
        "rule_ids": list(rule_ids),
        "policy_revision": policy_revision,
        "notice_sha256": b"\x00" * 32,
        "field_provenance": None,
        "source_agency": source_agency,
        "contact_point": contact_point
        or {
            "role": "Public protection unit",
            "organisation": "Synthetic Constabulary",
            "telephone": "0300 000 0100",
            "secure_email": None,
        },
        "decided_at": received_at,
        "break_glass": None,
    }
    return entry_from_feed_item(item)


def decision(
    *related: FeedEntry,
    rag: str = "RED",
    outcome: str = "S47_STRATEGY_DISCUSSION",
    received_at: dt.datetime = NOW,
    subscriber_id: str = "mash-manager",
) -> FeedEntry:
    return entry(
        notice_type="MASH_DECISION",
        subscriber_id=subscriber_id,
        linkage_key=related[0].linkage_key if related else CHILD,
        received_at=received_at,
        source_agency="MASH",
        risk="HIGH",
        detail={
            "rag": rag,
            "outcome": outcome,
            "rationale": "Synthetic rationale for the decision.",
            "family_agreement": False,
            "decided_by_role": "MASH manager",
            "related_notice_ids": [r.notice_id for r in related],
            "agreed_actions": ["Strategy discussion today"],
        },
    )


LEFT_CHILD = "c" * 64
RIGHT_CHILD = "d" * 64


def evidence_json(
    agency: str = "POLICE",
    *,
    given_name: str | None = "Jodie",
    family_name: str | None = "Example",
    sex: str | None = "F",
    date_of_birth: str | None = "2014-03-02",
    postcode: str | None = "ZZ1 1AA",
    nhs_number: str | None = None,
    upn: str | None = None,
    la_child_id: str | None = None,
    received_at: str = "2026-11-17T09:30:00+00:00",
) -> dict[str, Any]:
    """One record as an agency sent it to the child index (synthetic)."""
    return {
        "agency": agency,
        "received_at": received_at,
        "given_name": given_name,
        "family_name": family_name,
        "sex": sex,
        "date_of_birth": date_of_birth,
        "postcode": postcode,
        "nhs_number": nhs_number,
        "upn": upn,
        "la_child_id": la_child_id,
    }


def review_json(
    review_id: str = "rev-0001",
    *,
    probability: float = 0.74,
    status: str = "open",
    left: list[dict[str, Any]] | None = None,
    right: list[dict[str, Any]] | None = None,
    decided_by: str | None = None,
    rationale: str | None = None,
) -> dict[str, Any]:
    """A review as the child index answers it (contract: Review)."""
    return {
        "review_id": review_id,
        "status": status,
        "match_probability": probability,
        "created_at": "2026-11-18T08:00:00+00:00",
        "left": {"child_key": LEFT_CHILD, "records": left or [evidence_json("POLICE")]},
        "right": {
            "child_key": RIGHT_CHILD,
            "records": right
            or [
                evidence_json(
                    "HEALTH",
                    given_name="Jodi",
                    postcode="ZZ9 9ZZ",
                    nhs_number="9434765919",
                )
            ],
        },
        "decided_by": decided_by,
        "decided_at": None if status == "open" else "2026-11-18T09:45:00+00:00",
        "rationale": rationale,
    }
