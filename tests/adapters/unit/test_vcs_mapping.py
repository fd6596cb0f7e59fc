"""Voluntary-sector forms (JSON and CSV) -> notices."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.adapters.ingest.csv_batch import map_each, read_csv
from services.adapters.ingest.nrm import NRM_CONSENT_REASON
from services.adapters.ingest.problems import field_errors_from_validation
from services.adapters.voluntary_sector.mapping import map_vcs_update
from services.adapters.voluntary_sector.models import VcsUpdateForm
from services.hubkit.notice import encode_notice
from services.synthetic.native import VCS_COLUMNS, to_csv
from tests.adapters.helpers import context, map_native, native
from tests.factories import catalog

CATALOG = catalog()


@pytest.mark.parametrize("kind", ["ENGAGEMENT", "CONCERN", "RETURN_INTERVIEW_OUTCOME"])
def test_updates_map_to_vcs_update(kind: str) -> None:
    records = native()
    form = records.vcs_update(records.child(), kind=kind)
    notice = map_native("VOLUNTARY_SECTOR", form)
    encode_notice(CATALOG, notice)
    assert notice["notice_type"] == "VCS_UPDATE"
    assert notice["detail"]["kind"] == kind
    assert notice["detail"]["agreed_actions"] == form["agreed_actions"]
    assert notice["contact_point"]["organisation"] == "Synthetic Children's Charity"
    if kind == "RETURN_INTERVIEW_OUTCOME":
        assert {"code": "MISSING", "census_factor": "10A"} in notice["concerns"]
        assert notice["detail"]["outcome_summary"]


def test_nrm_referral_maps_to_trafficking_nrm_without_consent() -> None:
    scenario = native().nrm_referral()
    notice = map_native("VOLUNTARY_SECTOR", scenario.vcs_referral)
    encode_notice(CATALOG, notice)
    assert notice["notice_type"] == "TRAFFICKING_NRM"
    assert notice["detail"]["first_responder_organisation"] == "Synthetic Children's Charity"
    assert notice["detail"]["exploitation_type"] == "CRIMINAL"
    assert {"code": "TRAFFICKING", "census_factor": "12A"} in notice["concerns"]
    assert notice["consent"] == {"status": "NOT_REQUIRED", "reason_not_sought": NRM_CONSENT_REASON}
    assert notice["subject"]["exploitation_flagged"] is True


def _errors(document: dict[str, Any]) -> dict[str, str]:
    try:
        VcsUpdateForm.model_validate(document)
    except ValidationError as error:
        return {e.pointer: e.code for e in field_errors_from_validation(error.errors(), document)}
    raise AssertionError("expected errors")


def test_nrm_needs_exploitation_fields() -> None:
    records = native()
    form = records.vcs_update(records.child(), kind="NRM_REFERRAL")
    form["exploitation_account"] = None
    assert _errors(form) == {"/exploitation_account": "missing"}


def test_unknown_fields_are_rejected() -> None:
    records = native()
    form = records.vcs_update(records.child(), kind="CONCERN")
    form["favourite_colour"] = "green"
    assert _errors(form) == {"/favourite_colour": "unknown_field"}


def test_csv_rows_use_the_same_model() -> None:
    records = native()
    forms = [records.vcs_update(records.child(), kind="ENGAGEMENT") for _ in range(3)]
    rows = [records.vcs_csv_row(f) for f in forms]
    rows[1]["risk_level"] = "SEVERE"
    parsed = read_csv(to_csv(rows, VCS_COLUMNS).encode(), VcsUpdateForm, max_rows=10)
    assert [r.record is not None for r in parsed] == [True, False, True]
    assert [(e.pointer, e.code) for e in parsed[1].errors] == [("/risk_level", "enum")]
    first = parsed[0].record
    assert first is not None
    assert first.agreed_actions == forms[0]["agreed_actions"]  # ';'-separated list
    items = map_each(parsed, map_vcs_update, context("VOLUNTARY_SECTOR"))
    assert items[0].notice == map_native("VOLUNTARY_SECTOR", forms[0])
