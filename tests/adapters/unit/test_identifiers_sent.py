"""What each adapter sends the child index (services/adapters/ingest/identifiers.py, mapping
`build_subject`): every identifier the native record holds, sex as "F"/"M"/None, UPN and LA
child id included; and no adapter-side check refuses a record before the index is asked
(the index decides whether the identifiers are enough). Runs the edge's two mapping passes
(`Ingest.keyed`) against a fake index that writes down what it was asked."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from typing import Any, cast

import pytest
from pydantic import ValidationError

from services.adapters.childrens_services.mapping import map_ssda903_rows
from services.adapters.childrens_services.models import Ssda903MissingRow
from services.adapters.ingest.csv_batch import read_csv
from services.adapters.ingest.http import AdapterRuntime, Ingest
from services.adapters.ingest.mapping import Mapped, MappingContext, MappingFailed
from services.adapters.ingest.models import ContactPointIn
from services.adapters.ingest.problems import field_errors_from_validation
from services.hubkit.linkage import ChildIdentifiers
from services.synthetic.native import SSDA903_COLUMNS, NativeChild, to_csv
from tests.adapters.helpers import MAPPERS, context, native, parse


class FakeChildIndex:
    """Writes down what it is asked; keys every child unless told the identifiers are not
    enough (then None, as the real index's 422 identifiers-incomplete comes back)."""

    def __init__(self, *, enough: Callable[[ChildIdentifiers], bool] = lambda _: True) -> None:
        self.asked: list[ChildIdentifiers] = []
        self._enough = enough

    async def resolve(self, children: Sequence[ChildIdentifiers]) -> list[str | None]:
        self.asked += children
        return [
            hashlib.sha256(repr(c).encode()).hexdigest() if self._enough(c) else None
            for c in children
        ]


def _ingest(agency: str, index: FakeChildIndex) -> Ingest:
    # Only the context and the index take part in keying; nothing else is reached.
    unused = cast(Any, None)
    runtime = AdapterRuntime(
        agency=unused,
        context=context(agency),
        child_index=index,
        pipeline=unused,
        validator=unused,
        settings=unused,
    )
    return Ingest(runtime, unused)


async def _send(agency: str, document: dict[str, Any], index: FakeChildIndex) -> Mapped:
    record = parse(agency, document)
    mapper = MAPPERS[agency]

    def build(ctx: MappingContext) -> Mapped:
        return mapper(record, ctx)

    return await _ingest(agency, index).keyed(build)


def _child(seed: int = 5) -> NativeChild:
    return native(seed).child(looked_after=False, exploitation_flagged=False)


async def test_police_names_and_date_of_birth_alone_reach_the_index() -> None:
    child = _child()
    document = native().police_ppn(child)
    document["subject"].update(nhs_number=None, postcode=None, sex="F")
    index = FakeChildIndex()
    notice = (await _send("POLICE", document, index)).notice
    assert index.asked == [
        ChildIdentifiers(
            given_name=child.given_name,
            family_name=child.family_name.upper(),  # as the force holds it
            date_of_birth=child.date_of_birth,
            sex="F",
        )
    ]
    assert (
        notice["subject"]["linkage_key"]
        == hashlib.sha256(repr(index.asked[0]).encode()).hexdigest()
    )
    assert "sex" not in notice["subject"]  # a matching field, never in the notice


@pytest.mark.parametrize(("recorded", "sent"), [("F", "F"), ("M", "M"), ("U", None), (None, None)])
async def test_police_sex(recorded: str | None, sent: str | None) -> None:
    document = native().police_dash(_child())
    document["subject"]["sex"] = recorded
    index = FakeChildIndex()
    await _send("POLICE", document, index)
    assert [c.sex for c in index.asked] == [sent]


@pytest.mark.parametrize(
    ("gender", "sent"),
    [("female", "F"), ("male", "M"), ("other", None), ("unknown", None), (None, None)],
)
async def test_health_patient_gender(gender: str | None, sent: str | None) -> None:
    child = _child()
    document = native().health_bundle(child)
    patient = document["entry"][0]["resource"]
    patient["gender"] = gender
    if gender is None:
        del patient["gender"]
    index = FakeChildIndex()
    await _send("HEALTH", document, index)
    (asked,) = index.asked
    assert asked.sex == sent
    assert asked.nhs_number == child.nhs_number
    assert (asked.upn, asked.la_child_id) == (None, None)


@pytest.mark.parametrize(("code", "sent"), [("1", "M"), ("2", "F"), ("0", None), ("9", None)])
async def test_csc_census_sex_upn_and_la_child_id(code: str, sent: str | None) -> None:
    child = _child()
    document = native().csc_referral(child)
    document["child"].update(sex=code, nhs_number=None, postcode=None)
    index = FakeChildIndex()
    await _send("CHILDRENS_SERVICES", document, index)
    (asked,) = index.asked
    assert (asked.sex, asked.upn, asked.la_child_id) == (sent, child.upn, child.la_child_id)
    assert (asked.nhs_number, asked.postcode) == (None, None)


async def test_ssda903_row_sends_sex_and_the_child_id() -> None:
    records = native()
    child = _child()
    start = dt.datetime(2026, 11, 14, 19, 30, tzinfo=dt.UTC)
    row = records.ssda903_row(child, start=start, end=start + dt.timedelta(hours=12))
    row.update(SEX="1", NHS_NUMBER="", POSTCODE="")
    rows = read_csv(to_csv([row], SSDA903_COLUMNS).encode(), Ssda903MissingRow, max_rows=5)
    contact = ContactPointIn(role="CiC team", organisation="LA", telephone="0300 000 0300")
    index = FakeChildIndex()
    items = await _ingest("CHILDRENS_SERVICES", index).keyed(
        lambda ctx: map_ssda903_rows(rows, ctx, contact_point=contact)
    )
    assert [i.notice is not None for i in items] == [True]
    (asked,) = index.asked
    assert (asked.sex, asked.la_child_id, asked.nhs_number) == ("M", child.la_child_id, None)


async def test_vcs_form_sends_sex_and_upn_without_postcode_or_nhs_number() -> None:
    child = _child()
    form = native().vcs_update(child, kind="ENGAGEMENT")
    form.update(sex="M", upn=child.upn.lower(), postcode=None, nhs_number=None)
    index = FakeChildIndex()
    await _send("VOLUNTARY_SECTOR", form, index)
    (asked,) = index.asked
    assert (asked.sex, asked.upn) == ("M", child.upn)  # UPN upper-cased, as the census writes it
    assert asked.date_of_birth == child.date_of_birth


async def test_when_the_index_cannot_key_the_child_the_error_names_the_subject() -> None:
    document = native().police_ppn(_child())
    document["subject"].update(nhs_number=None, postcode=None, date_of_birth=None)
    index = FakeChildIndex(enough=lambda c: c.date_of_birth is not None or c.postcode is not None)
    with pytest.raises(MappingFailed) as failed:
        await _send("POLICE", document, index)
    assert len(index.asked) == 1  # asked, not refused beforehand
    ((pointer, code, message),) = [(e.pointer, e.code, e.message) for e in failed.value.errors]
    assert (pointer, code) == ("/subject", "identifiers_incomplete")
    assert "date of birth or postcode" in message


@pytest.mark.parametrize(
    ("agency", "where", "value", "pointer"),
    [
        ("POLICE", ("subject",), "X", "/subject/sex"),
        ("CHILDRENS_SERVICES", ("child",), "3", "/child/sex"),
        ("VOLUNTARY_SECTOR", (), "female", "/sex"),
        ("HEALTH", ("entry", 0, "resource"), "woman", "/entry/0/resource/gender"),
    ],
)
def test_a_sex_outside_the_agency_code_list_is_a_field_error(
    agency: str, where: tuple[str | int, ...], value: str, pointer: str
) -> None:
    records = native()
    document = records.record(agency, _child())
    target: Any = document
    for step in where:
        target = target[step]
    target["gender" if agency == "HEALTH" else "sex"] = value
    with pytest.raises(ValidationError) as invalid:
        parse(agency, document)
    errors = field_errors_from_validation(invalid.value.errors(), document)
    assert pointer in {e.pointer for e in errors}
