"""Children's social care records and SSDA903 uploads -> notices."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from services.adapters.childrens_services.mapping import (
    map_csc_nrm_referral,
    map_ssda903_rows,
)
from services.adapters.childrens_services.models import CscNrmReferral, Ssda903MissingRow
from services.adapters.ingest.csv_batch import read_csv
from services.adapters.ingest.errors import BatchInvalid, BatchTooLarge
from services.adapters.ingest.models import ContactPointIn
from services.adapters.ingest.problems import field_errors_from_validation
from services.hubkit.notice import encode_notice
from services.synthetic.native import SSDA903_COLUMNS, to_csv
from tests.adapters.helpers import KEYER, context, map_native, mapped, native, parse
from tests.factories import catalog

CATALOG = catalog()
CONTACT = ContactPointIn(
    role="Children in care team",
    organisation="Synthetic Borough Children's Services",
    telephone="0300 000 0300",
)


def test_referral_maps_factors_to_concerns_with_census_codes() -> None:
    records = native()
    child = records.child(exploitation_flagged=True)
    document = records.csc_referral(child)
    notice = map_native("CHILDRENS_SERVICES", document)
    encode_notice(CATALOG, notice)

    assert notice["notice_type"] == "CSC_STATUS_CHANGE"
    assert notice["detail"]["change"] == "CIN_REFERRAL_ACCEPTED"
    assert notice["detail"]["assessment_factors"] == ["24A", "10A"]
    assert notice["concerns"] == [
        {"code": "CHILD_CRIMINAL_EXPLOITATION", "census_factor": "24A"},
        {"code": "MISSING", "census_factor": "10A"},
    ]
    assert notice["subject"]["la_child_id"] == child.la_child_id
    assert notice["subject"]["upn"] == child.upn
    assert notice["subject"]["responsible_la"] == "LA-E09000099"
    assert notice["subject"]["date_of_birth"] == child.date_of_birth  # from DD/MM/YYYY
    assert notice["subject"]["linkage_key"] == KEYER.key_for(nhs_number=child.nhs_number)


def test_cp_plan_started_and_ended() -> None:
    records = native()
    child = records.child()
    started = records.csc_cp_plan(child, started=dt.date(2026, 9, 1))
    ended = records.csc_cp_plan(child, started=dt.date(2026, 9, 1), ended=dt.date(2026, 11, 1))
    first = map_native("CHILDRENS_SERVICES", started)
    last = map_native("CHILDRENS_SERVICES", ended)
    encode_notice(CATALOG, first)
    encode_notice(CATALOG, last)
    assert first["detail"]["change"] == "CP_PLAN_STARTED"
    assert first["detail"]["effective_date"] == dt.date(2026, 9, 1)
    assert last["detail"]["change"] == "CP_PLAN_ENDED"
    assert last["detail"]["effective_date"] == dt.date(2026, 11, 1)
    assert first["detail"]["cp_category"] == started["initial_category"]


def test_looked_after_started_marks_child_looked_after() -> None:
    records = native()
    document = records.csc_looked_after(records.child(looked_after=False))
    notice = map_native("CHILDRENS_SERVICES", document)
    encode_notice(CATALOG, notice)
    assert notice["detail"]["change"] == "LOOKED_AFTER_STARTED"
    assert notice["detail"]["legal_status"] == document["legal_status"]
    assert notice["subject"]["looked_after"] is True


def test_s47_event() -> None:
    records = native()
    document = records.csc_s47(records.child())
    notice = map_native("CHILDRENS_SERVICES", document)
    encode_notice(CATALOG, notice)
    expected = {
        "ENQUIRY_STARTED": "S47_ENQUIRY_STARTED",
        "STRATEGY_DISCUSSION_HELD": "STRATEGY_DISCUSSION_HELD",
    }[document["event"]]
    assert notice["detail"]["change"] == expected


def _errors(document: dict[str, Any]) -> dict[str, str]:
    try:
        parse("CHILDRENS_SERVICES", document)
    except ValidationError as error:
        return {e.pointer: e.code for e in field_errors_from_validation(error.errors(), document)}
    raise AssertionError("expected errors")


def test_census_codes_are_checked() -> None:
    records = native()
    document = records.csc_referral(records.child())
    document["assessment_factors"] = ["10A", "16Z"]  # an unknown factor is only a warning
    document["primary_need"] = "N10"
    document["referral_source"] = "11"
    document["child"]["UPN"] = "12345"
    assert _errors(document) == {
        "/primary_need": "string_pattern_mismatch",
        "/referral_source": "referral_source",
        "/child/UPN": "upn_format",
    }


# Every factor identified at assessment in the CIN census (N00181), as the domain brief lists.
CENSUS_FACTORS = [
    *(f"{n}{v}" for n in range(1, 7) for v in "ABC"),
    "7A",
    *(f"8{v}" for v in "BCDEF"),
    *("9A", "10A", "11A", "12A", "13A", "14A", "15A", "16A", "17A"),
    *("18A", "18B", "18C", "19A", "19B", "19C", "20", "21", "22A", "23A", "24A"),
]


@pytest.mark.parametrize("factor", CENSUS_FACTORS)
def test_every_census_factor_is_accepted(factor: str) -> None:
    records = native()
    document = records.csc_referral(records.child(exploitation_flagged=False))
    document["assessment_factors"] = [factor.lower()]  # case as the case system sends it
    result = mapped("CHILDRENS_SERVICES", document)
    encode_notice(CATALOG, result.notice)
    assert result.warnings == ()
    assert result.notice["detail"]["assessment_factors"] == [factor]


@pytest.mark.parametrize(
    ("factor", "code"),
    [
        ("16A", "NEGLECT"),
        ("17A", "EMOTIONAL_ABUSE"),
        ("18A", "PHYSICAL_ABUSE"),
        ("19A", "SEXUAL_ABUSE"),
    ],
)
def test_abuse_and_neglect_factors_map_to_their_concerns(factor: str, code: str) -> None:
    records = native()
    document = records.csc_referral(records.child(exploitation_flagged=False))
    document["assessment_factors"] = [factor]
    notice = map_native("CHILDRENS_SERVICES", document)
    assert notice["concerns"] == [{"code": code, "census_factor": factor}]


def test_unknown_factor_is_dropped_and_reported_not_fatal() -> None:
    records = native()
    document = records.csc_referral(records.child(exploitation_flagged=False))
    document["assessment_factors"] = ["16A", "99Z", "17A"]
    result = mapped("CHILDRENS_SERVICES", document)
    encode_notice(CATALOG, result.notice)
    assert result.notice["detail"]["assessment_factors"] == ["16A", "17A"]
    assert [c["code"] for c in result.notice["concerns"]] == ["NEGLECT", "EMOTIONAL_ABUSE"]
    assert [(w.pointer, w.code) for w in result.warnings] == [
        ("/assessment_factors/1", "census_factor_unknown")
    ]


@pytest.mark.parametrize(("factor", "code"), [("9A", "OTHER"), ("13A", "GANGS")])
def test_uasc_and_gangs_factors_flag_the_child_for_exploitation(factor: str, code: str) -> None:
    records = native()
    document = records.csc_referral(records.child(exploitation_flagged=False))
    document["assessment_factors"] = [factor]
    notice = map_native("CHILDRENS_SERVICES", document)
    assert notice["concerns"] == [{"code": code, "census_factor": factor}]
    # Exploitation signals: an 'absent' episode of this child is shared as missing (R8).
    assert notice["subject"]["exploitation_flagged"] is True


def test_factors_without_an_exploitation_signal_do_not_flag_the_child() -> None:
    records = native()
    document = records.csc_referral(records.child(exploitation_flagged=False))
    document["assessment_factors"] = ["3A", "16A"]
    assert map_native("CHILDRENS_SERVICES", document)["subject"]["exploitation_flagged"] is False


# ---- NRM referrals (rule R12: local authorities are first responders) -----------------------


def test_la_nrm_referral_maps_to_trafficking_nrm() -> None:
    records = native()
    child = records.child(looked_after=True, exploitation_flagged=False)
    document = records.csc_nrm_referral(child)
    result = map_csc_nrm_referral(
        CscNrmReferral.model_validate(document), context("CHILDRENS_SERVICES")
    )
    notice = result.notice
    encode_notice(CATALOG, notice)
    assert notice["notice_type"] == "TRAFFICKING_NRM"
    assert notice["source"]["source_reference"] == document["record_id"]
    assert notice["detail"] == {
        "exploitation_type": document["exploitation_type"],
        "first_responder_organisation": "Synthetic Borough Children's Services",
        "referred_at": dt.datetime.fromisoformat(document["referred_at"]),
        "exploitation_account": document["exploitation_account"],
    }
    assert {"code": "TRAFFICKING", "census_factor": "12A"} in notice["concerns"]
    assert notice["subject"]["responsible_la"] == "LA-E09000099"
    assert notice["subject"]["la_child_id"] == child.la_child_id
    assert notice["subject"]["looked_after"] is True
    assert notice["subject"]["exploitation_flagged"] is True
    assert notice["consent"]["status"] == "NOT_REQUIRED"


def test_ended_plan_needs_end_date() -> None:
    records = native()
    document = records.csc_cp_plan(records.child())
    document["change"] = "ENDED"
    assert _errors(document) == {"/plan_end_date": "missing"}


# ---- SSDA903 -----------------------------------------------------------------------------


def _rows(csv_text: str) -> list[Any]:
    return read_csv(csv_text.encode(), Ssda903MissingRow, max_rows=100)


def test_repeated_missing_episodes_from_a_903_upload() -> None:
    scenario = native().repeated_missing(episodes=4)
    rows = _rows(scenario.ssda903_csv)
    assert all(r.record is not None for r in rows)
    items = map_ssda903_rows(rows, context("CHILDRENS_SERVICES"), contact_point=CONTACT)
    notices = [i.notice for i in items]
    assert all(n is not None for n in notices)
    for notice in notices:
        assert notice is not None
        encode_notice(CATALOG, notice)
        assert notice["notice_type"] == "MISSING_EPISODE"
        assert notice["subject"]["looked_after"] is True
        assert notice["subject"]["linkage_key"] == KEYER.key_for(
            nhs_number=scenario.child.nhs_number
        )
    counts = [n["detail"]["episodes_last_90_days"] for n in notices if n]
    assert counts == [1, 2, 3, 4]
    for notice, (start, _) in zip(notices, scenario.episodes, strict=True):
        assert notice is not None
        detail = notice["detail"]
        assert detail["status"] == "RETURNED"
        assert detail["started_at"] == start.astimezone(dt.UTC).replace(second=0, microsecond=0)
        assert detail["return_interview_due_at"] == detail["ended_at"] + dt.timedelta(hours=72)


def test_903_local_times_convert_to_utc_in_summer() -> None:
    text = to_csv(
        [
            {
                "CHILD": "LAC000001",
                "MISSING": "A",
                "MIS_START": "01/07/2026",
                "MIS_START_TIME": "21:00",
                "GIVEN_NAME": "Sol",
                "FAMILY_NAME": "Ivel",
                "DOB": "2012-01-01",
                "POSTCODE": "ZZ2 3AB",
                "RISK_GRADE": "LOW",
                "FAMILY_INFORMED": "Y",
            }
        ],
        SSDA903_COLUMNS,
    )
    (item,) = map_ssda903_rows(_rows(text), context("CHILDRENS_SERVICES"), contact_point=CONTACT)
    assert item.notice is not None
    detail = item.notice["detail"]
    assert detail["started_at"] == dt.datetime(2026, 7, 1, 20, 0, tzinfo=dt.UTC)  # BST
    assert detail["status"] == "REPORTED"
    assert detail["ended_at"] is None
    assert detail["return_interview_due_at"] is None
    assert (
        item.notice["source"]["source_reference"] == "SSDA903/LAC000001/2026-07-01T21:00/REPORTED"
    )


def _row(**cells: str) -> dict[str, str]:
    return {
        "CHILD": "LAC000001",
        "MISSING": "M",
        "GIVEN_NAME": "Sol",
        "FAMILY_NAME": "Ivel",
        "DOB": "2012-01-01",
        "POSTCODE": "ZZ2 3AB",
        "RISK_GRADE": "MEDIUM",
        "FAMILY_INFORMED": "Y",
        **cells,
    }


def test_903_return_without_a_time_invents_no_time() -> None:
    text = to_csv(
        [_row(MIS_START="14/11/2026", MIS_START_TIME="19:30", MIS_END="15/11/2026")],
        SSDA903_COLUMNS,
    )
    (item,) = map_ssda903_rows(_rows(text), context("CHILDRENS_SERVICES"), contact_point=CONTACT)
    assert item.notice is not None
    encode_notice(CATALOG, item.notice)
    detail = item.notice["detail"]
    assert detail["status"] == "RETURNED"
    # R7: nothing is invented when the return time is unknown (no 00:00 return, no due time).
    assert detail["ended_at"] is None
    assert detail["return_interview_due_at"] is None
    assert "returned 15/11/2026" in item.notice["narrative"]["summary"]
    assert [(w.pointer, w.code) for w in item.warnings] == [("/MIS_END_TIME", "time_unknown")]


def test_903_return_with_a_time_sets_the_interview_due_time() -> None:
    text = to_csv(
        [
            _row(
                MIS_START="14/11/2026",
                MIS_START_TIME="19:30",
                MIS_END="15/11/2026",
                MIS_END_TIME="08:15",
            )
        ],
        SSDA903_COLUMNS,
    )
    (item,) = map_ssda903_rows(_rows(text), context("CHILDRENS_SERVICES"), contact_point=CONTACT)
    assert item.notice is not None
    back = dt.datetime(2026, 11, 15, 8, 15, tzinfo=dt.UTC)  # GMT in November
    assert item.notice["detail"]["ended_at"] == back
    assert item.notice["detail"]["return_interview_due_at"] == back + dt.timedelta(hours=72)
    assert item.warnings == ()


def test_903_episode_count_looks_back_90_days_within_the_upload() -> None:
    rows = [
        _row(MIS_START="01/05/2026", MIS_START_TIME="20:00"),
        _row(MIS_START="20/06/2026", MIS_START_TIME="20:00"),  # 50 days after the first
        _row(MIS_START="09/08/2026", MIS_START_TIME="20:00"),  # 100 days after the first
        _row(MIS_START="20/06/2026", MIS_START_TIME="20:00"),  # the same episode again
        _row(CHILD="LAC000002", MIS_START="19/06/2026", MIS_START_TIME="20:00"),
    ]
    items = map_ssda903_rows(
        _rows(to_csv(rows, SSDA903_COLUMNS)), context("CHILDRENS_SERVICES"), contact_point=CONTACT
    )
    counts = [i.notice["detail"]["episodes_last_90_days"] for i in items if i.notice]
    # A repeated row is one episode, and another child's episodes never count.
    assert counts == [1, 2, 2, 2, 1]


def test_903_bad_rows_get_errors_by_column_good_rows_still_map() -> None:
    scenario = native().repeated_missing(episodes=3)
    lines = scenario.ssda903_csv.splitlines()
    header = lines[0].split(",")
    broken = lines[2].split(",")
    broken[header.index("MIS_START")] = "31/02/2026"
    broken[header.index("RISK_GRADE")] = "EXTREME"
    lines[2] = ",".join(broken)
    rows = _rows("\n".join(lines) + "\n")
    assert [r.record is not None for r in rows] == [True, False, True]
    assert {(e.pointer, e.code) for e in rows[1].errors} == {
        ("/MIS_START", "date_invalid"),
        ("/RISK_GRADE", "enum"),
    }
    assert rows[1].line == 3
    items = map_ssda903_rows(rows, context("CHILDRENS_SERVICES"), contact_point=CONTACT)
    assert [i.notice is not None for i in items] == [True, False, True]


def test_903_header_problems_reject_the_whole_upload() -> None:
    with pytest.raises(BatchInvalid) as caught:
        _rows("CHILD,MISSING,START\nLAC1,M,01/01/2026\n")
    pointers = {(e.pointer, e.code) for e in caught.value.errors}
    assert ("/START", "unknown_column") in pointers
    assert ("/MIS_START", "missing_column") in pointers


def test_903_upload_limits() -> None:
    scenario = native().repeated_missing(episodes=3)
    with pytest.raises(BatchTooLarge):
        read_csv(scenario.ssda903_csv.encode(), Ssda903MissingRow, max_rows=2)
    with pytest.raises(BatchInvalid):
        read_csv(b"\xff\xfe\x00", Ssda903MissingRow, max_rows=2)
    with pytest.raises(BatchInvalid):
        read_csv(scenario.ssda903_csv.splitlines()[0].encode(), Ssda903MissingRow, max_rows=2)
