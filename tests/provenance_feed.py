"""Feed items carrying the agency's per-field signature (issue 19), built as the gateway
builds them: the agency's SD-JWT issued over the notice's JSON form
(hubkit.field_provenance.issue), the view redacted by the gateway's own functions, and the
presentation of exactly the view's units (presentation_for). Plus the ways a compromised
hub could try to pass off a field: altered and re-sealed, or moved from another notice."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from services.gateway.domain.records import feed_item
from services.gateway.settings import GatewaySettings
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.field_provenance import (
    disclosure_units,
    issue,
    open_issued,
    presentation_for,
)
from services.hubkit.notice import to_json_value
from services.hubkit.sharing_decisions import LawfulBasis, SharingDecision, SharingOutcome
from tests.factories import catalog, notices

CATALOG: SchemaCatalog = catalog()
HUB = SigningKey.generate("gateway")
POLICE = SigningKey.generate("adapter-police")
KEYS = KeyDirectory.of([HUB, POLICE])
AT = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)

NAMED_SOURCE = (
    "notice_id",
    "notice_type",
    "source.agency",
    "created_at",
    "subject.linkage_key",
    "subject.given_name",
    "subject.age_years",
    "concerns",
    "risk.level",
    "narrative.summary",
    "classification",
)
"""A view that names its source agency (so the agency's signature may travel with it)."""
SOURCE_WITHHELD = tuple(p for p in NAMED_SOURCE if p != "source.agency")


def notice_json(seed: int = 3, **changes: Any) -> dict[str, Any]:
    notice: dict[str, Any] = to_json_value(notices(seed=seed).notice("SAFEGUARDING_CONTACT"))
    notice.update(changes)
    return notice


def item_for(
    notice: dict[str, Any],
    *,
    subscriber_id: str = "mash-manager",
    permitted: tuple[str, ...] = NAMED_SOURCE,
    caveat: str | None = None,
    agency_key: SigningKey = POLICE,
) -> dict[str, Any]:
    """The FeedItem record the gateway makes for `subscriber_id`: the presentation only when
    the decision names the source agency (the contract's need-to-know rule)."""
    issued = open_issued(issue(notice, agency_key, AT), KeyDirectory.of([agency_key]))
    decision = SharingDecision(
        subscriber_id=subscriber_id,
        outcome=SharingOutcome.PERMIT,
        permitted_fields=permitted,
        purpose="SAFEGUARDING_TRIAGE",
        lawful_basis=LawfulBasis("6(1)(e)", None, None, "CA 2004 s11"),
        isa_clause=None,
        rule_ids=("R1",),
        explanation="Shared for triage.",
        handling_caveat=caveat,
    )
    record = feed_item(
        notice=notice,
        decision=decision,
        policy_revision="rev",
        envelope_sha256=b"\0" * 32,
        decided_at=AT,
        relay_contact=GatewaySettings().relay_contact,
        safeguarding_contacts={},
        silent=frozenset(),
    )
    if "source.agency" in permitted:
        view = json.loads(record["view_json"])
        record["field_provenance"] = presentation_for(issued, disclosure_units(view))
    return record


def altered(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """The item with one field of its view changed (what only the hub could re-seal)."""
    view = json.loads(record["view_json"])
    head, _, tail = path.partition(".")
    if tail:
        view[head][tail] = value
    else:
        view[head] = value
    return {**record, "view_json": json.dumps(view, sort_keys=True, separators=(",", ":"))}


def moved(record: dict[str, Any], donor: dict[str, Any], path: str) -> dict[str, Any]:
    """The item with `path`'s value and disclosure taken from another notice's item."""
    donor_view = json.loads(donor["view_json"])
    head, _, tail = path.partition(".")
    value = donor_view[head][tail] if tail else donor_view[head]
    changed = altered(record, path, value)
    jwt, *disclosures, _ = record["field_provenance"].split("~")
    _, *donor_disclosures, _ = donor["field_provenance"].split("~")

    def names(disclosure: str) -> bool:
        decoded = json.loads(base64.urlsafe_b64decode(disclosure + "=" * (-len(disclosure) % 4)))
        return bool(decoded[1] == path)

    kept = [d for d in disclosures if not names(d)]
    taken = [d for d in donor_disclosures if names(d)]
    changed["field_provenance"] = "~".join([jwt, *kept, *taken, ""])
    return changed


def sealed(record: dict[str, Any], key: SigningKey = HUB) -> bytes:
    """The record as the gateway writes it to a feed: encoded and sealed with its key."""
    return seal(CATALOG, CATALOG.encode(MessageType.FEED_ITEM, record), key, AT)
