"""Feed consumers are idempotent on (notice id, subscriber) and accept only hub-signed items
made for them."""

from __future__ import annotations

import datetime as dt

import pytest

from services.gateway.domain.decisions import LawfulBasis, SharingDecision, SharingOutcome
from services.gateway.domain.records import feed_item
from services.gateway.feeds import SeenDecisions, verified_feed_item
from services.gateway.settings import GatewaySettings
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.notice import to_json_value
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


def test_each_notice_and_subscriber_is_handled_once() -> None:
    seen = SeenDecisions()
    assert seen.first_time("n1", "mash-manager")
    assert not seen.first_time("n1", "mash-manager")
    assert seen.first_time("n1", "school-dsl")
    assert seen.first_time("n2", "mash-manager")
    assert len(seen) == 3


def test_memory_is_bounded_oldest_first() -> None:
    seen = SeenDecisions(capacity=2)
    for notice_id in ("a", "b", "c"):
        assert seen.first_time(notice_id, "s")
    assert len(seen) == 2
    assert not seen.first_time("c", "s")
    assert seen.first_time("a", "s")  # forgotten, so offered again


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SeenDecisions(capacity=0)


def test_a_hub_signed_item_for_this_subscriber_is_accepted() -> None:
    item = verified_feed_item(
        CATALOG, KEYS, subscriber_id="mash-manager", value=_item_bytes("mash-manager")
    )
    assert item is not None
    assert item["outcome"] == "FLAG_ONLY"


def test_items_for_someone_else_or_not_signed_by_the_hub_are_refused() -> None:
    assert (
        verified_feed_item(CATALOG, KEYS, subscriber_id="school-dsl", value=_item_bytes("x"))
        is None
    )
    forged = _item_bytes("mash-manager", ADAPTER)
    assert verified_feed_item(CATALOG, KEYS, subscriber_id="mash-manager", value=forged) is None
    assert verified_feed_item(CATALOG, KEYS, subscriber_id="mash-manager", value=b"junk") is None
