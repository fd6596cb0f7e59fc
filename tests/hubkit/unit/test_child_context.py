"""What a notice tells the hub about its child (observation_of), and the empty context."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from services.hubkit.child_context import empty_context, observation_of
from services.hubkit.codec import MessageType
from services.hubkit.notice import encode_notice, to_json_value
from tests.factories import POLICIES, catalog, notices
from tests.gateway.notices import notices_strategy
from tests.policy.rules.cases import sample
from tests.properties.generator import Vocab
from tests.properties.generator import notices as generated_notices

CATALOG = catalog()
VOCAB = Vocab.load(POLICIES)
OBSERVATION_FIELDS = {
    "notice_id",
    "child_key",
    "agency",
    "notice_type",
    "created_at",
    "exploitation_flagged",
    "exploitation_types",
    "missing_episode",
    "looked_after",
    "placing_la",
    "responsible_la",
    "cp_plan",
    "school_urn",
}


def _decoded(notice: dict[str, Any]) -> dict[str, Any]:
    """The notice as the gateway's intake decodes it from the bus (datetimes, dates)."""
    decoded: dict[str, Any] = CATALOG.decode(encode_notice(CATALOG, notice), MessageType.NOTICE)
    return decoded


def test_a_missing_episode_is_observed_with_its_status_grade_and_start() -> None:
    notice = sample("MISSING_EPISODE", detail={"risk_grade": "NO_APPARENT_RISK"})
    observed = observation_of(notice)
    assert observed == {
        "notice_id": notice["notice_id"],
        "child_key": "5afe0001",
        "agency": "POLICE",
        "notice_type": "MISSING_EPISODE",
        "created_at": "2026-11-20T10:00:00.000+00:00",
        "exploitation_flagged": False,
        "exploitation_types": [],
        "missing_episode": {
            "status": "RETURNED",
            "risk_grade": "NO_APPARENT_RISK",
            "started_at": "2026-11-19T08:00:00.000+00:00",
        },
        # Police say "false" when they do not know: not a fact about care.
        "looked_after": None,
        "placing_la": None,
        "responsible_la": "LA-E09000099",
        "cp_plan": None,
        "school_urn": None,
    }


def test_decoded_and_json_notices_give_the_same_observation() -> None:
    for notice_type in ("MISSING_EPISODE", "HEALTH_SAFEGUARDING_ALERT", "CSC_STATUS_CHANGE"):
        notice = notices(seed=5).notice(notice_type)
        decoded = _decoded(notice)
        assert isinstance(decoded["created_at"], dt.datetime)
        assert observation_of(decoded) == observation_of(to_json_value(decoded))


def test_times_are_rendered_as_the_policy_input_renders_them() -> None:
    notice = sample(
        "MISSING_EPISODE",
        created_at="2026-11-20T10:00:00Z",
        detail={"started_at": "2026-11-19T09:00:00+01:00"},
    )
    observed = observation_of(notice)
    assert observed["created_at"] == "2026-11-20T10:00:00.000+00:00"
    assert observed["missing_episode"]["started_at"] == "2026-11-19T08:00:00.000+00:00"


@pytest.mark.parametrize(
    ("patch", "types"),
    [
        ({"subject": {"exploitation_flagged": True}}, []),
        ({"concerns": [{"code": "COUNTY_LINES", "census_factor": "24A"}]}, ["COUNTY_LINES"]),
        ({"concerns": [{"code": "CHILD_SEXUAL_EXPLOITATION", "census_factor": None}]}, ["SEXUAL"]),
        ({"concerns": [{"code": "GANGS", "census_factor": None}]}, []),
        ({"concerns": [{"code": "TRAFFICKING", "census_factor": None}]}, []),
    ],
)
def test_an_exploitation_flag_or_concern_flags_the_child(
    patch: dict[str, Any], types: list[str]
) -> None:
    observed = observation_of(sample("SAFEGUARDING_CONTACT", **patch))
    assert observed["exploitation_flagged"] is True
    assert observed["exploitation_types"] == types


def test_exploitation_concerns_and_nrm_referrals_name_their_types() -> None:
    concern = observation_of(
        sample(
            "EXPLOITATION_CONCERN",
            detail={"exploitation_types": ["ONLINE", "CRIMINAL"]},
            concerns=[{"code": "CHILD_CRIMINAL_EXPLOITATION", "census_factor": None}],
        )
    )
    assert concern["exploitation_flagged"] is True
    assert concern["exploitation_types"] == ["CRIMINAL", "ONLINE"]
    nrm = observation_of(sample("TRAFFICKING_NRM", detail={"exploitation_type": "LABOUR"}))
    assert nrm["exploitation_flagged"] is True
    assert nrm["exploitation_types"] == ["LABOUR"]


def test_a_notice_without_exploitation_does_not_flag() -> None:
    observed = observation_of(sample("SAFEGUARDING_CONTACT"))
    assert observed["exploitation_flagged"] is False
    assert observed["exploitation_types"] == []


@pytest.mark.parametrize(
    ("agency", "said", "observed"),
    [
        ("POLICE", True, True),
        ("POLICE", False, None),
        ("CHILDRENS_SERVICES", False, False),
        ("CHILDRENS_SERVICES", True, True),
        ("VOLUNTARY_SECTOR", False, None),
    ],
)
def test_only_childrens_services_say_a_child_is_not_looked_after(
    agency: str, said: bool, observed: bool | None
) -> None:
    notice = sample("SAFEGUARDING_CONTACT", agency, subject={"looked_after": said})
    assert observation_of(notice)["looked_after"] is observed


def test_the_local_authorities_are_as_the_subject_names_them() -> None:
    notice = sample(
        "MISSING_EPISODE",
        subject={"looked_after": True, "responsible_la": "LA-E09000001", "placing_la": "LA-X"},
    )
    observed = observation_of(notice)
    assert (observed["responsible_la"], observed["placing_la"]) == ("LA-E09000001", "LA-X")
    blank = observation_of(sample("MISSING_EPISODE", subject={"responsible_la": " "}))
    assert blank["responsible_la"] is None


@pytest.mark.parametrize(
    ("change", "cp_plan"),
    [
        ("CP_PLAN_STARTED", True),
        ("CP_PLAN_ENDED", False),
        ("LOOKED_AFTER_STARTED", None),
        ("S47_ENQUIRY_STARTED", None),
    ],
)
def test_a_status_change_starts_or_ends_a_plan(change: str, cp_plan: bool | None) -> None:
    notice = sample("CSC_STATUS_CHANGE", detail={"change": change})
    assert observation_of(notice)["cp_plan"] is cp_plan


@pytest.mark.parametrize(
    ("flag", "cp_plan"),
    [
        (None, None),
        ({"plan_type": "CHILD_PROTECTION_PLAN", "plan_end": None}, True),
        ({"plan_type": "UNBORN_CHILD_PROTECTION_PLAN", "plan_end": "2026-12-31"}, True),
        ({"plan_type": "CHILD_PROTECTION_PLAN", "plan_end": "2026-11-01"}, False),
        ({"plan_type": "LOOKED_AFTER", "plan_end": None}, None),
    ],
)
def test_a_cpis_flag_on_a_health_alert_says_whether_a_plan_is_open(
    flag: dict[str, Any] | None, cp_plan: bool | None
) -> None:
    notice = sample("HEALTH_SAFEGUARDING_ALERT")
    notice["detail"]["cpis_flag"] = (
        None if flag is None else {**notice["detail"]["cpis_flag"], **flag}
    )
    assert observation_of(notice)["cp_plan"] is cp_plan


@pytest.mark.parametrize(
    ("written", "urn"),
    [("urn: 999999", "URN-999999"), ("999999", "URN-999999"), ("not a urn", None), (None, None)],
)
def test_the_school_of_an_encompass_notice_is_in_canonical_form(
    written: str | None, urn: str | None
) -> None:
    notice = sample("DOMESTIC_ABUSE_INCIDENT", detail={"school_urn": written})
    assert observation_of(notice)["school_urn"] == urn


def test_only_the_types_that_carry_a_fact_report_it() -> None:
    for notice_type in ("SAFEGUARDING_CONTACT", "POLICE_INTELLIGENCE", "VCS_UPDATE"):
        observed = observation_of(sample(notice_type))
        assert observed["missing_episode"] is None
        assert observed["cp_plan"] is None
        assert observed["school_urn"] is None


def test_a_child_the_hub_knows_nothing_about_has_the_empty_context() -> None:
    assert empty_context("ab" * 32) == {
        "child_key": "ab" * 32,
        "keys": ["ab" * 32],
        "exploitation": {"flagged": False, "flagged_by": [], "types": []},
        "missing_episodes": [],
        "looked_after": None,
        "placing_la": None,
        "responsible_la": None,
        "cp_plan": None,
        "school_urn": None,
    }


def _check(observed: dict[str, Any], notice: dict[str, Any]) -> None:
    assert set(observed) == OBSERVATION_FIELDS
    assert observed["notice_id"] == str(notice["notice_id"])
    assert observed["child_key"] == notice["subject"]["linkage_key"]
    assert isinstance(observed["exploitation_flagged"], bool)
    assert (observed["missing_episode"] is not None) == (notice["notice_type"] == "MISSING_EPISODE")
    assert observed["looked_after"] in (True, False, None)
    json.dumps(observed)  # JSON values only: it goes to the index as they are


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notice=notices_strategy())
def test_every_generated_notice_is_observed_alike_decoded_or_as_json(
    notice: dict[str, Any],
) -> None:
    decoded = _decoded(notice)
    observed = observation_of(decoded)
    _check(observed, decoded)
    assert observation_of(to_json_value(decoded)) == observed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notice=generated_notices(VOCAB))
def test_every_notice_of_the_property_suite_is_observed(notice: dict[str, Any]) -> None:
    _check(observation_of(notice), notice)
    _check(observation_of(to_json_value(notice)), notice)
