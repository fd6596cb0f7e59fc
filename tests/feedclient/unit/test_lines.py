"""The feed client's core: a verified message becomes one JSON line (kind, ids, the view, why
it was shared, the provenance verdict, where it came from); anything that fails the hub's
seal, is made for another subscriber or has a field the agency did not sign becomes a
rejection with its reason code and no content."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from services.feedclient.lines import FeedLine, FeedPosition, Rejected, read_record
from services.gateway.domain.records import feed_retraction
from services.hubkit.codec import MessageType
from services.hubkit.envelope import seal
from tests.provenance_feed import (
    AT,
    CATALOG,
    HUB,
    KEYS,
    POLICE,
    SOURCE_WITHHELD,
    altered,
    item_for,
    notice_json,
    sealed,
)

AT_OFFSET = FeedPosition("feed.mash-manager.v1", 2, 41)


def _read(value: bytes | None, subscriber_id: str = "mash-manager") -> FeedLine | Rejected:
    return read_record(value, AT_OFFSET, catalog=CATALOG, keys=KEYS, subscriber_id=subscriber_id)


def test_an_item_becomes_a_line_with_its_view_reasons_and_verdict() -> None:
    item = item_for(notice_json(seed=11))
    line = _read(sealed(item))
    assert isinstance(line, FeedLine)
    body: dict[str, Any] = json.loads(line.text())
    assert body["kind"] == "item"
    assert body["notice_id"] == item["notice_id"]
    assert body["subscriber_id"] == "mash-manager"
    assert body["decision_id"] == line.decision_id == item["decision_id"]
    assert body["view"] == json.loads(item["view_json"])
    assert body["purpose"] == item["purpose"]
    assert body["lawful_basis"]["statutory_gateway"] == "CA 2004 s11"
    assert body["explanation"] == item["explanation"]
    assert body["outcome"] == "PERMIT"
    assert body["notice_sha256"] == "00" * 32
    assert body["contact_point"] == item["contact_point"]
    assert body["decided_at"] == AT.isoformat(timespec="milliseconds")
    assert body["feed"] == {"topic": "feed.mash-manager.v1", "partition": 2, "offset": 41}
    provenance = body["provenance"]
    assert provenance["fields"] == "checked"
    assert provenance["signer"] == "adapter-police"
    assert "subject.given_name" in provenance["checked"]
    assert "field_provenance" not in body
    assert "view_json" not in body


def test_an_item_whose_source_is_withheld_rests_on_the_hub_seal() -> None:
    line = _read(sealed(item_for(notice_json(seed=12), permitted=SOURCE_WITHHELD)))
    assert isinstance(line, FeedLine)
    assert line.body["provenance"]["fields"] == "unsigned"
    assert line.body["provenance"]["sealed_by_hub"] is True


def test_a_field_the_agency_did_not_sign_is_rejected_naming_the_path_not_the_value() -> None:
    forged = altered(item_for(notice_json(seed=13)), "subject.given_name", "Mallory")
    rejected = _read(sealed(forged))  # re-sealed with the hub's key: only the fields tell
    assert isinstance(rejected, Rejected)
    assert (rejected.check, rejected.reason) == ("field_provenance", "altered")
    assert rejected.notice_id == forged["notice_id"]
    assert "subject.given_name" in rejected.text()
    assert "Mallory" not in rejected.text() + rejected.summary


def test_a_record_not_sealed_by_the_hub_is_rejected_before_anything_is_read() -> None:
    rejected = _read(sealed(item_for(notice_json(seed=14)), POLICE))
    assert isinstance(rejected, Rejected)
    assert (rejected.check, rejected.reason) == ("seal", "not_signed_by_hub")
    assert rejected.notice_id is None
    assert json.loads(rejected.text())["feed"]["offset"] == 41


def test_an_item_made_for_another_subscriber_is_rejected() -> None:
    rejected = _read(sealed(item_for(notice_json(seed=15))), subscriber_id="school-dsl")
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "wrong_subscriber"


def test_garbage_and_an_empty_record_are_rejected() -> None:
    for value in (b"\xc3\x01not an envelope", None):
        rejected = _read(value)
        assert isinstance(rejected, Rejected)
        assert (rejected.check, rejected.reason) == ("seal", "unverifiable")


def test_a_withdrawal_becomes_a_withdrawal_line() -> None:
    notice_id = str(uuid.uuid4())
    message = feed_retraction(
        retraction={
            "retraction_id": str(uuid.uuid4()),
            "retracted_notice_id": notice_id,
            "subject_linkage_key": "ab" * 32,
            "source": {"agency": "POLICE", "organisation_code": "POL-SYN01"},
            "reason": "WRONG_CHILD",
            "replaced_by_notice_id": None,
            "retracted_at": AT,
        },
        subscriber_id="mash-manager",
        delivered_at=AT + dt.timedelta(seconds=2),
    )
    value = seal(CATALOG, CATALOG.encode(MessageType.FEED_RETRACTION, message), HUB, AT)
    line = _read(value)
    assert isinstance(line, FeedLine)
    assert line.kind == "withdrawal"
    assert line.body["notice_id"] == notice_id
    assert line.body["reason"] == "WRONG_CHILD"
    assert line.decision_id == message["decision_id"]
    assert line.body["provenance"] == {"sealed_by_hub": True, "fields": "none-carried"}
