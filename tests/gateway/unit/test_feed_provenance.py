"""Each feed item carries the agency's field signatures for exactly its view: through
decisions from the REAL sharing policy (regopy in process), every item whose decision names
the source verifies field by field as its recipient checks it (hubkit.item_provenance), and
holds no disclosure of a withheld field; an item whose decision withholds the source carries
none (the signature would name the agency)."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings

from services.gateway.domain.decisions import parse_decisions
from services.gateway.domain.intake import AcceptedNotice
from services.gateway.domain.pipeline import messages_for_decisions
from services.gateway.domain.provenance import view_presentation
from services.gateway.domain.redaction import is_permitted
from services.gateway.engines import RegopyEngine
from services.gateway.settings import GatewaySettings
from services.hubkit import field_provenance
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey
from services.hubkit.item_provenance import item_provenance
from services.hubkit.notice import to_json_value
from services.hubkit.sharing_decisions import SharingDecision
from services.hubkit.topology import Topology, load_topology
from tests.factories import POLICIES, notices
from tests.gateway.notices import notices_strategy

AT = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
RELAY = GatewaySettings().relay_contact
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = SigningKey.generate("adapter-police")
KEYS = KeyDirectory.of([KEY])


@cache
def _engine() -> RegopyEngine:
    return RegopyEngine(POLICIES)


@cache
def _topology() -> Topology:
    return load_topology(POLICIES)


def _decide(notice: dict[str, Any]) -> dict[str, SharingDecision]:
    result = _engine().evaluate_sync({"notice": notice}).result
    return parse_decisions(result, [s.subscriber_id for s in _topology().subscribers])


def _issued(notice: dict[str, Any]) -> field_provenance.IssuedProvenance:
    return field_provenance.open_issued(field_provenance.issue(notice, KEY, AT), KEYS)


@PROPERTY
@given(raw=notices_strategy())
def test_every_item_naming_the_source_verifies_and_holds_no_withheld_disclosure(
    raw: dict[str, Any],
) -> None:
    notice = to_json_value(raw)
    issued = _issued(notice)
    decided = messages_for_decisions(
        accepted=AcceptedNotice(
            notice=notice,
            envelope_sha256=b"\0" * 32,
            payload_sha256=b"\0" * 32,
            signer=KEY.owner,
            provenance=issued,
        ),
        decisions=_decide(notice),
        topology=_topology(),
        limits=DisclosureLimits.load(POLICIES),
        policy_revision="rev",
        decided_at=AT,
        relay_contact=RELAY,
    )
    decisions = {d.subscriber_id: d for d in decided.decisions}
    units = field_provenance.disclosure_units(notice)
    for message in decided.messages:
        if message.message_type is not MessageType.FEED_ITEM:
            continue
        item = message.record
        permitted = decisions[item["subscriber_id"]].permitted_fields
        if not is_permitted("source.agency", permitted):
            assert item["field_provenance"] is None, item["subscriber_id"]
            continue
        checked = item_provenance(item, KEYS)
        assert checked is not None
        assert checked.signer == KEY.owner
        view_units = field_provenance.disclosure_units(json.loads(item["view_json"]))
        # Every field of the view a permitted path covers whole is the agency's, as signed.
        whole = {p for p in view_units if is_permitted(p, permitted)}
        assert set(checked.verified) | set(checked.raised) == whole
        # Nothing withheld travels: no disclosure of a unit outside the view.
        withheld = units.keys() - view_units.keys()
        for path in withheld:
            assert issued.disclosures[path].encoded not in item["field_provenance"], path


def test_no_signature_without_the_notice_carrying_one_or_naming_the_source() -> None:
    notice = to_json_value(notices().notice("SAFEGUARDING_CONTACT"))
    issued = _issued(notice)
    assert view_presentation(None, ["notice_id", "source.agency"]) is None
    assert view_presentation(issued, ["notice_id"]) is None
    assert view_presentation(issued, ["notice_id", "source"]) is not None


def test_a_field_permitted_only_in_part_gets_no_disclosure() -> None:
    """A path below a container's field (detail.x.y) puts part of that field in the view; its
    disclosure would carry the rest, so the field rests on the hub's signature alone."""
    notice = to_json_value(notices().notice("SAFEGUARDING_CONTACT"))
    issued = _issued(notice)
    # As if the decision permitted a path under narrative.summary: the unit is not whole.
    presentation = view_presentation(
        issued, ["notice_id", "source.agency", "narrative.summary.part"]
    )
    assert presentation is not None
    opened = field_provenance.open_issued(presentation, KEYS)
    assert "narrative.summary" not in opened.disclosures
    assert set(opened.disclosures) == {"notice_id", "source.agency"}
