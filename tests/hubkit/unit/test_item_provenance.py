"""A recipient checks a feed item's fields against the agency's own signature
(hubkit.item_provenance): what verifies, what rests on the hub alone, what fails."""

from __future__ import annotations

import pytest

from services.hubkit.envelope import KeyDirectory, SigningKey
from services.hubkit.errors import ProvenanceInvalid
from services.hubkit.item_provenance import classification_raised, item_provenance
from tests.provenance_feed import (
    HUB,
    KEYS,
    NAMED_SOURCE,
    SOURCE_WITHHELD,
    altered,
    item_for,
    moved,
    notice_json,
)


def test_every_field_of_a_view_naming_its_source_verifies() -> None:
    item = item_for(notice_json())
    checked = item_provenance(item, KEYS)
    assert checked is not None
    assert checked.signer == "adapter-police"
    # The units of the view, every one of them the agency's.
    assert "subject.given_name" in checked.verified
    assert "source.agency" in checked.verified
    assert set(checked.verified) <= set(NAMED_SOURCE)
    assert checked.hub_only == ()
    assert checked.raised == ()


def test_an_item_whose_source_is_withheld_carries_none() -> None:
    assert item_provenance(item_for(notice_json(), permitted=SOURCE_WITHHELD), KEYS) is None


def test_a_field_altered_by_the_hub_fails_naming_the_path_not_the_value() -> None:
    item = altered(item_for(notice_json()), "subject.given_name", "Mallory")
    with pytest.raises(ProvenanceInvalid) as failed:
        item_provenance(item, KEYS)
    assert failed.value.reason == "altered"
    assert failed.value.path == "subject.given_name"
    assert "Mallory" not in str(failed.value)


def test_a_field_moved_from_another_notice_fails() -> None:
    item = item_for(notice_json(seed=3))
    donor = item_for(notice_json(seed=4))
    assert item["notice_id"] != donor["notice_id"]
    with pytest.raises(ProvenanceInvalid) as failed:
        item_provenance(moved(item, donor, "subject.given_name"), KEYS)
    assert failed.value.reason == "not_signed"
    assert failed.value.path == "subject.given_name"


def test_the_hub_may_raise_the_classification_but_never_lower_it() -> None:
    raised = item_for(notice_json(classification="OFFICIAL"), caveat="OFFICIAL_SENSITIVE")
    checked = item_provenance(raised, KEYS)
    assert checked is not None
    assert checked.raised == ("classification",)
    lowered = altered(item_for(notice_json()), "classification", "OFFICIAL")
    with pytest.raises(ProvenanceInvalid) as failed:
        item_provenance(lowered, KEYS)
    assert failed.value.path == "classification"


@pytest.mark.parametrize(
    ("view", "signed", "allowed"),
    [
        ("OFFICIAL_SENSITIVE", "OFFICIAL", True),
        ("OFFICIAL", "OFFICIAL", True),
        ("OFFICIAL", "OFFICIAL_SENSITIVE", False),
        ("SECRET", "OFFICIAL", False),
        ("OFFICIAL", None, False),
    ],
)
def test_classification_rank_check(view: str, signed: str | None, allowed: bool) -> None:
    assert classification_raised(view, signed) is allowed


def test_a_field_added_by_the_hub_rests_on_the_hub_alone() -> None:
    item = altered(item_for(notice_json()), "subject.family_name", "Dunmore")
    checked = item_provenance(item, KEYS)
    assert checked is not None
    assert checked.hub_only == ("subject.family_name",)


def test_an_agency_key_the_reader_does_not_trust_fails() -> None:
    item = item_for(notice_json())
    with pytest.raises(ProvenanceInvalid) as failed:
        item_provenance(item, KeyDirectory.of([HUB, SigningKey.generate("adapter-police")]))
    assert failed.value.reason == "unknown_signer"


def test_a_view_that_is_not_json_fails_closed() -> None:
    item = {**item_for(notice_json()), "view_json": "[1, 2"}
    with pytest.raises(ProvenanceInvalid) as failed:
        item_provenance(item, KEYS)
    assert failed.value.reason == "malformed"
