"""Feed readers accept only items the hub's gateway sealed, made for them (hubkit.feed_items)."""

from __future__ import annotations

import datetime as dt

import pytest

from services.gateway.domain.records import feed_item
from services.gateway.settings import GatewaySettings
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.errors import FeedItemUnverified
from services.hubkit.feed_items import open_feed_item
from services.hubkit.notice import to_json_value
from services.hubkit.sharing_decisions import LawfulBasis, SharingDecision, SharingOutcome
from tests.factories import catalog, notices

CATALOG = catalog()
HUB = SigningKey.generate("gateway")
ADAPTER = SigningKey.generate("adapter-police")
KEYS = KeyDirectory.of([HUB, ADAPTER])
AT = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def _item_bytes(subscriber_id: str, key: SigningKey = HUB) -> bytes:
    notice = to_json_value(notices(seed=3).notice("SAFEGUARDING_CONTACT"))
    decision = SharingDecision(
        subscriber_id=subscriber_id,
        outcome=SharingOutcome.FLAG_ONLY,
        permitted_fields=("notice_id", "notice_type", "subject.linkage_key"),
        purpose="SAFEGUARDING_TRIAGE",
        lawful_basis=LawfulBasis("6(1)(e)", None, None, "CA 2004 s11"),
        isa_clause=None,
        rule_ids=("R1",),
        explanation="Flag only.",
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
    return seal(CATALOG, CATALOG.encode(MessageType.FEED_ITEM, record), key, AT)


def test_a_hub_signed_item_for_this_subscriber_is_accepted() -> None:
    item = open_feed_item(CATALOG, KEYS, _item_bytes("mash-manager"), subscriber_id="mash-manager")
    assert item["outcome"] == "FLAG_ONLY"
    # Without a subscriber to check, any hub-sealed item opens.
    assert open_feed_item(CATALOG, KEYS, _item_bytes("school-dsl"))["subscriber_id"] == "school-dsl"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (_item_bytes("x"), "wrong_subscriber"),
        (_item_bytes("mash-manager", ADAPTER), "not_signed_by_hub"),
        (b"junk", "unverifiable"),
        (seal(CATALOG, b"not a feed item", HUB, AT), "unverifiable"),
    ],
)
def test_items_for_someone_else_or_not_signed_by_the_hub_are_refused(
    value: bytes, reason: str
) -> None:
    with pytest.raises(FeedItemUnverified) as refused:
        open_feed_item(CATALOG, KEYS, value, subscriber_id="mash-manager")
    assert refused.value.reason == reason
