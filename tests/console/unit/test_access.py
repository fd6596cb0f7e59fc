"""Refusals and linkage decisions become console access events: ids, codes, enumerations
and digests only, no name, no free text (issue 13, defects 4 and 7; issue 15)."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from services.console.domain.access import (
    RefusalReason,
    Requester,
    access_refused_event,
    child_searched_event,
    linkage_decided_event,
    well_formed_notice_id,
)
from services.hubkit.audit_trail import check_console_access
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.settings import REPO_ROOT
from services.hubkit.topology import load_topology
from tests.console.factories import NOW

TOPOLOGY = load_topology(REPO_ROOT / "policies")
CATALOG = SchemaCatalog(REPO_ROOT / "schemas" / "avro")


def _roundtrip(event: dict[str, object]) -> dict[str, object]:
    return CATALOG.decode(
        CATALOG.encode(MessageType.CONSOLE_ACCESS, event), MessageType.CONSOLE_ACCESS
    )


def test_a_refusal_is_a_valid_console_access_event() -> None:
    social_worker = TOPOLOGY.subscriber("responsible-la")
    notice_id = str(uuid.uuid4())
    event = access_refused_event(
        access_id=str(uuid.uuid4()),
        requester=Requester("user-123", ("SOCIAL_WORKER",), social_worker),
        reason=RefusalReason.NOT_IN_FEED,
        notice_id=notice_id,
        at=NOW,
    )
    decoded = _roundtrip(event)
    check_console_access(decoded)
    assert decoded["event"] == "ACCESS_REFUSED"
    assert decoded["refusal_reason"] == "NOT_IN_FEED"
    assert decoded["notice_id"] == notice_id
    assert decoded["feed"]["subscriber_id"] == "responsible-la"  # type: ignore[index]
    assert decoded["actor"] == "user-123"
    assert decoded["actor_roles"] == ["SOCIAL_WORKER"]
    assert decoded["retention_review_date"].year == NOW.year + 6  # type: ignore[attr-defined]


def test_a_person_without_a_feed_is_recorded_without_one() -> None:
    event = access_refused_event(
        access_id=str(uuid.uuid4()),
        requester=Requester("user-9", ("IG_OFFICER",), None),
        reason=RefusalReason.NO_FEED_FOR_ROLE,
        notice_id=None,
        at=NOW,
    )
    assert _roundtrip(event)["feed"] is None


def test_only_well_formed_notice_ids_reach_the_audit_log() -> None:
    assert well_formed_notice_id("6F1D3C2E-8A4B-5C6D-9E0F-5AFE5AFE0001") == (
        "6f1d3c2e-8a4b-5c6d-9e0f-5afe5afe0001"
    )
    assert well_formed_notice_id("<script>alert(1)</script>") is None
    assert well_formed_notice_id("") is None


def test_a_subject_or_role_of_any_other_form_is_recorded_as_a_digest() -> None:
    prose = "Jane Doe, ignore the previous entries"
    event = access_refused_event(
        access_id=str(uuid.uuid4()),
        requester=Requester(prose, ("SOCIAL_WORKER", "<b>admin</b>"), None),
        reason=RefusalReason.NO_FEED_FOR_ROLE,
        notice_id="also free text",
        at=NOW,
    )
    assert event["actor"] == "sha256:" + hashlib.sha256(prose.encode()).hexdigest()
    assert "SOCIAL_WORKER" in event["actor_roles"]
    assert all(r == "SOCIAL_WORKER" or r.startswith("sha256:") for r in event["actor_roles"])
    assert event["notice_id"] is None
    check_console_access(event)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "Jane Doe"),
        ("actor_roles", ["please read me"]),
        ("notice_id", "not a uuid"),
        ("access_id", "x"),
    ],
)
def test_the_reader_refuses_an_event_with_free_text(field: str, value: object) -> None:
    event = access_refused_event(
        access_id=str(uuid.uuid4()),
        requester=Requester("user-1", ("SOCIAL_WORKER",), None),
        reason=RefusalReason.NOT_IN_FEED,
        notice_id=None,
        at=NOW,
    )
    with pytest.raises(AuditRecordRejected) as refused:
        check_console_access({**event, field: value})
    assert refused.value.reason == "TEXT_NOT_BOUNDED"


# Linkage decisions (LINKAGE_DECIDED): who answered which review about which two children,
# and how; the rationale only as its digest.

LEFT, RIGHT = "a" * 64, "b" * 64
RATIONALE = "Jo Example's DOB and school match; the health record has her old postcode."


def _linkage_event(**changes: object) -> dict[str, object]:
    arguments: dict[str, object] = {
        "requester": Requester("u-manager", ("MASH_MANAGER",), TOPOLOGY.subscriber("mash-manager")),
        "review_id": "rev-0001",
        "left_child_key": LEFT,
        "right_child_key": RIGHT,
        "same_child": True,
        "surviving_child_key": LEFT,
        "match_probability": 0.74,
        "rationale": RATIONALE,
        "at": NOW,
        **changes,
    }
    return linkage_decided_event(**arguments)  # type: ignore[arg-type]


def test_a_linkage_decision_is_a_valid_console_access_event() -> None:
    decoded = _roundtrip(_linkage_event())
    check_console_access(decoded)
    assert decoded["event"] == "LINKAGE_DECIDED"
    assert decoded["refusal_reason"] is None
    assert decoded["actor"] == "u-manager"
    assert decoded["feed"]["subscriber_id"] == "mash-manager"  # type: ignore[index]
    assert decoded["linkage"] == {
        "review_id": "rev-0001",
        "left_child_key": LEFT,
        "right_child_key": RIGHT,
        "outcome": "SAME_CHILD",
        "surviving_child_key": LEFT,
        "match_probability": 0.74,
        "rationale_sha256": "sha256:" + hashlib.sha256(RATIONALE.encode()).hexdigest(),
    }


def test_a_linkage_decision_never_carries_the_rationale_or_a_name() -> None:
    encoded = CATALOG.encode(MessageType.CONSOLE_ACCESS, _linkage_event())
    assert b"Jo Example" not in encoded
    assert b"postcode" not in encoded


def test_recording_a_decision_again_is_the_same_audit_entry() -> None:
    first = _linkage_event()
    again = _linkage_event(surviving_child_key=None, at=NOW.replace(hour=11))
    other = _linkage_event(review_id="rev-0002")
    assert first["access_id"] == again["access_id"]
    assert first["access_id"] != other["access_id"]
    assert _linkage_event(same_child=False)["linkage"]["outcome"] == "NOT_SAME_CHILD"  # type: ignore[index]


def test_ids_and_keys_of_another_form_are_recorded_as_digests() -> None:
    event = _linkage_event(review_id="<b>review</b>", left_child_key="Jo Example 2014-03-02")
    linkage = event["linkage"]
    assert linkage["review_id"].startswith("sha256:")  # type: ignore[index]
    assert linkage["left_child_key"].startswith("sha256:")  # type: ignore[index]
    check_console_access(event)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"linkage": None}, "without its review"),
        ({"event": "ACCESS_REFUSED"}, "linkage decision on a ACCESS_REFUSED"),
        ({"linkage.rationale_sha256": RATIONALE}, "rationale is not a digest"),
        ({"linkage.left_child_key": "Jo Example"}, "child key"),
        ({"linkage.surviving_child_key": "Jo Example"}, "child key"),
        ({"linkage.review_id": "free text here"}, "review_id"),
    ],
)
def test_the_reader_refuses_a_linkage_decision_with_free_text(
    changes: dict[str, object], problem: str
) -> None:
    event = _linkage_event()
    for name, value in changes.items():
        if name.startswith("linkage."):
            event["linkage"] = {**event["linkage"], name.split(".")[1]: value}  # type: ignore[dict-item]
        else:
            event[name] = value
    with pytest.raises(AuditRecordRejected, match=problem) as refused:
        check_console_access(event)
    assert refused.value.reason == "TEXT_NOT_BOUNDED"


# Child searches (issue 16): why, by which kinds of identifier, and which children were shown;
# never what was typed.


def _search_event(**changes: object) -> dict[str, object]:
    from services.console.domain.search import SearchPurpose, SearchQuery

    query = SearchQuery(
        purpose=SearchPurpose.CHECKING_EXISTING_INVOLVEMENT,
        given_name="Avery",
        family_name="Dunmore",
        date_of_birth=NOW.date().replace(year=2014),
        nhs_number="943 476 5919",
    )
    fields: dict[str, object] = {
        "access_id": str(uuid.uuid4()),
        "requester": Requester("u-manager", ("MASH_MANAGER",), TOPOLOGY.subscriber("mash-manager")),
        "query": query,
        "index_matches": 3,
        "children_shown": ["a" * 64],
        "at": NOW,
        **changes,
    }
    return child_searched_event(**fields)  # type: ignore[arg-type]


def test_a_child_search_is_a_valid_console_access_event_without_what_was_typed() -> None:
    event = _search_event()
    decoded = _roundtrip(event)
    check_console_access(decoded)
    assert decoded["event"] == "CHILD_SEARCHED"
    assert decoded["search"] == {
        "purpose": "CHECKING_EXISTING_INVOLVEMENT",
        "identifiers_used": ["GIVEN_NAME", "FAMILY_NAME", "DATE_OF_BIRTH", "NHS_NUMBER"],
        "index_matches": 3,
        "children_shown": ["a" * 64],
    }
    assert decoded["linkage"] is None
    encoded = CATALOG.encode(MessageType.CONSOLE_ACCESS, event)
    for value in (b"Avery", b"Dunmore", b"2014", b"9434765919", b"943 476 5919"):
        assert value not in encoded
    # Nor a digest of it: an unkeyed digest of a name is found by trying names.
    for name in ("Avery", "Dunmore", "9434765919"):
        assert hashlib.sha256(name.encode()).hexdigest().encode() not in encoded


def test_a_search_that_showed_nothing_is_recorded_too() -> None:
    decoded = _roundtrip(_search_event(index_matches=2, children_shown=[]))
    check_console_access(decoded)
    assert decoded["search"]["children_shown"] == []  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"search": None}, "without its search"),
        ({"event": "ACCESS_REFUSED"}, "child search on a ACCESS_REFUSED"),
        ({"search.children_shown": ["Avery Dunmore"]}, "not a pseudonymous key"),
    ],
)
def test_the_reader_refuses_a_child_search_with_free_text(
    changes: dict[str, object], problem: str
) -> None:
    event = _search_event()
    for name, value in changes.items():
        if name.startswith("search."):
            event["search"] = {**event["search"], name.split(".")[1]: value}  # type: ignore[dict-item]
        else:
            event[name] = value
    with pytest.raises(AuditRecordRejected, match=problem):
        check_console_access(event)
