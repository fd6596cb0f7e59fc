"""Test building blocks for the CP-IS lookup: CSC status-change notices, the register's feed
items built the way the gateway builds them (the notice in JSON form, redacted to the
register's view, in a FeedItem signed with the hub's key), plan changes, and tokens."""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from services.childindex.domain import LinkageKeyer
from services.cpis.domain.register import PlanChange, PlanType
from services.gateway.domain.redaction import redact
from services.hubkit.auth import PersonTokenValidator, StaticJwks
from services.hubkit.break_glass import grant_decision_id
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import SigningKey, seal
from services.hubkit.field_paths import withheld_paths
from services.hubkit.notice import decision_id_for, notice_id_for, to_json_value
from services.synthetic.notices import synthetic_nhs_number
from tests.factories import FIXED_NOW, notices

# The register's view (R13; policies/safehub/rules data, the lead's Rego): what the gateway
# lets the cpis-register subscriber see of a CSC_STATUS_CHANGE notice.
REGISTER_VIEW = (
    "notice_id",
    "notice_type",
    "created_at",
    "subject.linkage_key",
    "subject.nhs_number",
    "subject.responsible_la",
    "detail.change",
    "detail.effective_date",
    "detail.cp_category",
    "detail.legal_status",
    "contact_point",
)
REGISTER = "cpis-register"
LA = "LA-E09000099"
LA_CONTACT = {
    "role": "Duty social worker",
    "organisation": "Synthetic Borough Children's Services",
    "telephone": "0300 000 0004",
    "secure_email": None,
}
NHS_NUMBER = "9990000018"  # 999 test range, modulus-11 valid
ISSUER = "http://identity.test"
AUDIENCE = "safehub-cpis"


def csc_notice(
    change: str = "CP_PLAN_STARTED",
    *,
    effective: dt.date | None = None,
    seed: int = 3,
    nhs_number: str | None = NHS_NUMBER,
    responsible_la: str | None = LA,
    created_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """A CSC_STATUS_CHANGE notice (Avro record shape) with the LA's contact point."""
    source = notices(seed)
    child = source.child()
    notice = source.notice(
        "CSC_STATUS_CHANGE",
        child=child,
        change=change,
        effective_date=effective or FIXED_NOW.date(),
        cp_category="NEG" if change.startswith("CP_") else None,
        legal_status="S31" if change.startswith("LOOKED_") else None,
    )
    notice["subject"]["nhs_number"] = nhs_number
    notice["subject"]["responsible_la"] = responsible_la
    notice["contact_point"] = dict(LA_CONTACT)
    if created_at is not None:
        notice["created_at"] = created_at
    return notice


def register_feed_item(
    notice: dict[str, Any],
    *,
    subscriber_id: str = REGISTER,
    view: tuple[str, ...] = REGISTER_VIEW,
    decided_at: dt.datetime = FIXED_NOW,
) -> dict[str, Any]:
    """A FeedItem record for `notice` and the register, as the gateway would write it."""
    json_notice = to_json_value(notice)
    return {
        "notice_id": notice["notice_id"],
        "decision_id": decision_id_for(notice_id=notice["notice_id"], subscriber_id=subscriber_id),
        "subscriber_id": subscriber_id,
        "notice_type": notice["notice_type"],
        "subject_linkage_key": notice["subject"]["linkage_key"],
        "outcome": "PARTIAL",
        "view_json": json.dumps(redact(json_notice, view), sort_keys=True, separators=(",", ":")),
        "fields_withheld": [],
        "explanation": "Synthetic: the CP-IS register sees plan changes only (R13).",
        "lawful_basis": {
            "article6": "6(1)(e) public task",
            "special_category_condition": "9(2)(h) with DPA 2018 Sch 1 para 2",
            "dpa_part3": None,
            "statutory_gateway": "Children Act 2004 s11",
            "criminal_offence_condition": None,
            "recipient_basis": None,
        },
        "purpose": "UNSCHEDULED_CARE",
        "isa_clause": None,
        "rule_ids": ["R13"],
        "policy_revision": "test",
        "notice_sha256": b"\x00" * 32,
        "field_provenance": None,
        "source_agency": notice["source"]["agency"],
        "contact_point": notice["contact_point"],
        "decided_at": decided_at,
        "break_glass": None,
    }


def signed(catalog: SchemaCatalog, key: SigningKey, item: dict[str, Any]) -> bytes:
    payload = catalog.encode(MessageType.FEED_ITEM, item)
    return seal(catalog, payload, key, FIXED_NOW)


def plan_change(
    *,
    starts: bool = True,
    plan_type: PlanType = PlanType.CHILD_PROTECTION_PLAN,
    effective: dt.date = dt.date(2026, 6, 1),
    recorded_at: dt.datetime | None = None,
    notice_id: str = "n-1",
    nhs_number: str = NHS_NUMBER,
    responsible_la: str = LA,
    la_contact: str | None = "Duty social worker, Synthetic Borough Children's Services, "
    "0300 000 0004",
) -> PlanChange:
    return PlanChange(
        notice_id=notice_id,
        recorded_at=recorded_at or dt.datetime.combine(effective, dt.time(9, 0), tzinfo=dt.UTC),
        nhs_number=nhs_number,
        linkage_key="k" * 64,
        responsible_la=responsible_la,
        plan_type=plan_type,
        starts=starts,
        effective_date=effective,
        la_contact=la_contact if starts else None,
    )


class TokenMint:
    """An ES256 issuer for tests: tokens like the local identity provider's person tokens."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": "test-cpis-1"})

    def validator(self) -> PersonTokenValidator:
        return PersonTokenValidator(
            jwks=StaticJwks(KeySet([self.key])), issuer=ISSUER, audience=AUDIENCE
        )

    def token(
        self,
        *,
        roles: list[str] | None = None,
        organisation: str | None = "NHS-RXX00",
        subject: str = "clinician-1",
        audience: str = AUDIENCE,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": subject,
            "aud": [audience],
            "iat": now,
            "exp": now + 300,
            "roles": ["UNSCHEDULED_CARE_CLINICIAN"] if roles is None else roles,
            "agency": "HEALTH",
        }
        if organisation is not None:
            claims["organisation"] = organisation
        return jwt.encode({"alg": "ES256", "kid": self.key.kid, "typ": "at+jwt"}, claims, self.key)


def withheld_from_register(notice: dict[str, Any]) -> list[str]:
    """What the gateway records as withheld from the register for `notice` (silent paths,
    e.g. the referrer, are never named to a recipient)."""
    silent = {"detail.source_details", "referrer", "third_parties"}
    return [p for p in withheld_paths(to_json_value(notice), REGISTER_VIEW) if p not in silent]


def grant_feed_item(
    notice: dict[str, Any],
    *,
    request_id: str,
    paths: tuple[str, ...],
    requester_subject: str = "clinician-1",
    expires_at: dt.datetime,
) -> dict[str, Any]:
    """A FeedItem granting emergency access to `paths` of `notice` on the register's feed, as
    the gateway's break-glass component builds it (its view: exactly the paths asked for)."""
    item = register_feed_item(notice, view=paths)
    item["decision_id"] = grant_decision_id(request_id=request_id, subscriber_id=REGISTER)
    item["fields_withheld"] = [p for p in withheld_from_register(notice) if p not in paths]
    item["purpose"] = "EMERGENCY_ACCESS"
    item["rule_ids"] = []
    item["policy_revision"] = "break-glass"
    item["explanation"] = (
        "Emergency access for an unscheduled care clinician until 03:12 UTC: the child is "
        "with a professional now. Every view is recorded and Children's services has been told."
    )
    item["break_glass"] = {
        "request_id": request_id,
        "requester_subject": requester_subject,
        "requester_role": "UNSCHEDULED_CARE_CLINICIAN",
        "reason": "CHILD_PRESENTING_NOW",
        "expires_at": expires_at,
    }
    return item


def refusal_record(
    notice: dict[str, Any], *, request_id: str, explanation: str, refused_at: dt.datetime
) -> dict[str, Any]:
    """A BreakGlassRefusal on the register's feed."""
    return {
        "request_id": request_id,
        "decision_id": grant_decision_id(request_id=request_id, subscriber_id=REGISTER),
        "notice_id": notice["notice_id"],
        "subscriber_id": REGISTER,
        "subject_linkage_key": notice["subject"]["linkage_key"],
        "requester_subject": "clinician-1",
        "requested_paths": ["detail.allocated_worker"],
        "reason_code": "BREAK_GLASS_REFUSED",
        "explanation": explanation,
        "refused_at": refused_at,
    }


def fresh_csc_notice() -> dict[str, Any]:
    """A CP plan start for a new synthetic child under a new source reference: the register
    applies each notice id once, ever, and a shared broker keeps every earlier run's."""
    nhs_number = synthetic_nhs_number(random.Random(secrets.randbits(64)))
    notice = csc_notice("CP_PLAN_STARTED", nhs_number=nhs_number)
    notice["subject"]["linkage_key"] = LinkageKeyer(secrets.token_bytes(32)).key_for(
        nhs_number=nhs_number
    )
    reference = f"CS-TEST-{secrets.token_hex(6)}"
    notice["source"]["source_reference"] = reference
    notice["notice_id"] = notice_id_for(
        agency="CHILDRENS_SERVICES", organisation_code=LA, source_reference=reference
    )
    return notice
