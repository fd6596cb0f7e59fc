"""R5: police intelligence goes out as OFFICIAL-SENSITIVE whatever the sender marked."""

import json

from services.gateway.domain.records import redacted_view_json

_NOTICE = {
    "notice_id": "n-1",
    "notice_type": "POLICE_INTELLIGENCE",
    "classification": "OFFICIAL",
    "subject": {"linkage_key": "k"},
}
_PERMITTED = ("notice_id", "notice_type", "classification", "subject.linkage_key")


def test_caveat_raises_the_marking_of_the_copy() -> None:
    view = json.loads(redacted_view_json(_NOTICE, _PERMITTED, "OFFICIAL_SENSITIVE"))
    assert view["classification"] == "OFFICIAL_SENSITIVE"


def test_without_a_caveat_the_sender_marking_stands() -> None:
    view = json.loads(redacted_view_json(_NOTICE, _PERMITTED))
    assert view["classification"] == "OFFICIAL"


def test_a_caveat_never_lowers_the_marking() -> None:
    notice = {**_NOTICE, "classification": "OFFICIAL_SENSITIVE"}
    view = json.loads(redacted_view_json(notice, _PERMITTED, "OFFICIAL"))
    assert view["classification"] == "OFFICIAL_SENSITIVE"


def test_a_caveat_adds_no_field_the_decision_withheld() -> None:
    permitted = ("notice_id", "notice_type", "subject.linkage_key")
    view = json.loads(redacted_view_json(_NOTICE, permitted, "OFFICIAL_SENSITIVE"))
    assert "classification" not in view
