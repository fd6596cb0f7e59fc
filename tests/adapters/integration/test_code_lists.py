"""Issue 21 item 4: every code list (`enum`) on an adapter's OpenAPI page is exactly the
vocabulary the adapter validates with, and the running adapter behaves so: each listed code is
accepted where the page puts it, and a code outside the list is refused with a pointer at it.

Each enum is found in the served /openapi.json and exercised at a place where one of the
page's own examples sends a value of it (every enum must have such a place). To publish
nothing, each probe also carries one deliberate problem elsewhere (an element no adapter
reads; an upload row's unreadable date), so every answer is a refusal that lists every
problem: the code is accepted when no error names it.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Collection, Iterator
from enum import StrEnum
from typing import Any

import pytest

from services.adapters.childrens_services.models import (
    ASSESSMENT_FACTORS,
    REFERRAL_SOURCES,
    CpCategory,
    LegalStatus,
    S47Event,
    Ssda903MissingRow,
    StatusChange,
)
from services.adapters.health.elements import REFERRAL_SUB_EXTENSIONS
from services.adapters.health.mapping import CARE_SETTINGS
from services.adapters.health.systems import (
    CARE_SETTING_SYSTEM,
    CONCERN_EXTENSION,
    REFERRAL_EXTENSION,
)
from services.adapters.ingest import vocab
from services.adapters.ingest.identifiers import CENSUS_SEX_CODES, FhirGender, RecordedSex
from services.adapters.police.models import (
    DashGrade,
    GradingIn,
    MissingPersonRecord,
    MissingStatus,
    PublicProtectionNotice,
)
from services.adapters.voluntary_sector.models import VcsKind
from services.hubkit.retraction import RetractionReason
from tests.adapters.integration.conftest import Hub
from tests.adapters.integration.openapi_walk import (
    DocumentedExample,
    EnumUse,
    csv_rows,
    csv_text,
    documented_examples,
    enum_uses,
    post_example,
)

pytestmark = pytest.mark.kafka

AGENCIES = ("POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR")
OUTSIDE = "NOT_A_CODE"


def _literal(annotation: Any) -> set[str]:
    return {a for a in typing.get_args(annotation) if isinstance(a, str)}


def _codes(values: Collection[str] | type[StrEnum]) -> set[str]:
    return {str(getattr(v, "value", v)) for v in values}


# What each enum must equal: the object the adapter validates with. A named enum by its
# component; an enum on a field by ".field" (any model that has the field).
VOCABULARIES: dict[str, set[str]] = {
    "ConcernCode": _codes(vocab.ConcernCode),
    "RiskLevel": _codes(vocab.RiskLevel),
    "ConsentStatus": _codes(vocab.ConsentStatus),
    "NarrativeSensitivity": _codes(vocab.NarrativeSensitivity),
    "ExploitationType": _codes(vocab.ExploitationType),
    "RecordedSex": _codes(RecordedSex),
    "RetractionReason": _codes(RetractionReason),
    "DashGrade": _codes(DashGrade),
    "MissingStatus": _codes(MissingStatus),
    "CpCategory": _codes(CpCategory),
    "LegalStatus": _codes(LegalStatus),
    "StatusChange": _codes(StatusChange),
    "VcsKind": _codes(VcsKind),
    "CareSetting": _codes(CARE_SETTINGS),
    "ReferralSubExtension": _codes(REFERRAL_SUB_EXTENSIONS),
    ".classification": _literal(PublicProtectionNotice.model_fields["classification"].annotation),
    ".ssda903_code": _literal(
        typing.get_args(MissingPersonRecord.model_fields["ssda903_code"].annotation)[0]
    ),
    ".scheme": _literal(GradingIn.model_fields["scheme"].annotation),
    ".event": _literal(S47Event.model_fields["event"].annotation),
    ".MISSING": _literal(Ssda903MissingRow.model_fields["MISSING"].annotation),
    ".gender": _literal(FhirGender),
    ".sex": _codes(CENSUS_SEX_CODES),
    ".SEX": _codes(CENSUS_SEX_CODES),
    ".referral_source": _codes(REFERRAL_SOURCES),
    ".assessment_factors[]": _codes(ASSESSMENT_FACTORS),
}
LENIENT = {".assessment_factors[]"}
"""Published as the list the hub reads, but an unknown code is left out with a warning
rather than refused (one bad census factor never sinks a record)."""


def _vocabulary_key(where: str) -> str:
    if where in VOCABULARIES:
        return where
    return "." + where.split(".", 1)[1] if "." in where else where


def _health_uses(schema: dict[str, Any]) -> dict[str, list[EnumUse]]:
    """The health code lists are components (FHIR carries codes in generic elements): find
    where the Bundle example carries each, by the element's system or extension url."""
    codes = {
        name: tuple(schema["components"]["schemas"][name]["enum"])
        for name in ("CareSetting", "RiskLevel", "ConsentStatus", "ConcernCode")
    } | {"ReferralSubExtension": tuple(REFERRAL_SUB_EXTENSIONS)}
    uses: dict[str, list[EnumUse]] = {}
    for example in documented_examples(schema):
        if example.path != "/v1/fhir/Bundle" or example.answer is not None:
            continue
        for where, path in _health_paths(example.value):
            uses.setdefault(where, []).append(EnumUse(where, codes[where], example, path))
    return uses


def _health_paths(bundle: dict[str, Any]) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    for e, entry in enumerate(bundle["entry"]):
        resource = entry["resource"]
        base: tuple[str | int, ...] = ("entry", e, "resource")
        for c, coding in enumerate(resource.get("serviceType", {}).get("coding", [])):
            if coding.get("system") == CARE_SETTING_SYSTEM:
                yield "CareSetting", (*base, "serviceType", "coding", c, "code")
        for x, extension in enumerate(resource.get("extension", [])):
            if extension["url"] == CONCERN_EXTENSION:
                yield "ConcernCode", (*base, "extension", x, "valueCoding", "code")
            if extension["url"] == REFERRAL_EXTENSION:
                for s, sub in enumerate(extension["extension"]):
                    where = {"riskLevel": "RiskLevel", "consentStatus": "ConsentStatus"}
                    if sub["url"] in where:
                        yield (
                            where[sub["url"]],
                            (*base, "extension", x, "extension", s, "valueCode"),
                        )
                    yield "ReferralSubExtension", (*base, "extension", x, "extension", s, "url")


async def _schema(hub: Hub, agency: str) -> dict[str, Any]:
    document: dict[str, Any] = (await hub.adapters[agency].get("/openapi.json")).json()
    return document


def _uses(schema: dict[str, Any], agency: str) -> dict[str, list[EnumUse]]:
    uses = enum_uses(schema)
    if agency == "HEALTH":
        uses |= _health_uses(schema)
    # Named enums only a response uses are not code lists an integrator sends.
    return {w: u for w, u in uses.items() if w not in ("NoticeAccepted", "RowResult")}


def _pointer(path: tuple[str | int, ...]) -> str:
    return "".join(f"/{p}" for p in path)


def _set(document: Any, path: tuple[str | int, ...], value: Any) -> None:
    for step in path[:-1]:
        document = document[step]
    document[path[-1]] = value


async def _probe(hub: Hub, agency: str, use: EnumUse, code: str) -> set[tuple[str, str]]:
    """Post the example with `code` at the use's place and one deliberate problem; the
    (pointer, code) of every problem the answer lists (all are listed at once)."""
    example: DocumentedExample = use.example
    token = await hub.token(agency)
    if example.media_type == "multipart/form-data":
        row_index, column = use.path
        assert isinstance(row_index, int)
        assert isinstance(column, str)
        row = dict(csv_rows(example.value["file"])[row_index])
        row[column] = code
        poison = "DOB" if "DOB" in row else "date_of_birth"
        row[poison] = "not a date"
        value = {**example.value, "file": csv_text([row])}
        response = await post_example(hub.adapters[agency], token, example, value)
        assert response.status_code == 200, response.text
        (result,) = response.json()["rows"]
        assert result["status"] == "rejected"
        errors = {(e["pointer"], e["code"]) for e in result["errors"]}
        assert f"/{poison}" in {p for p, _ in errors}, "the deliberate problem must be reported"
        return {(p.replace(f"/{column}", _pointer(use.path)), c) for p, c in errors}
    document = copy.deepcopy(example.value)
    _set(document, use.path, code)
    document["x_not_read"] = "a deliberate problem, so that nothing is published"
    response = await post_example(hub.adapters[agency], token, example, document)
    assert response.status_code == 422, response.text
    errors = {(e["pointer"], e["code"]) for e in response.json()["errors"]}
    assert "/x_not_read" in {p for p, _ in errors}, "the deliberate problem must be reported"
    return errors


def _names(errors: set[tuple[str, str]], use: EnumUse) -> bool:
    """An error names the code: at its pointer, or at the element holding it (a FHIR
    valueCoding). A referral sub-extension's name is refused as an element not read (under
    another listed name, the sub-extension's value may be of the wrong type: that is not a
    refusal of the name)."""
    places = {_pointer(use.path), _pointer(use.path[:-1])}
    if use.where == "ReferralSubExtension":
        return any(p in places and c == "element_not_read" for p, c in errors)
    return any(p in places for p, _ in errors)


@pytest.mark.parametrize("agency", AGENCIES)
async def test_every_enum_is_the_vocabulary_the_adapter_validates_with(
    hub: Hub, agency: str
) -> None:
    uses = _uses(await _schema(hub, agency), agency)
    assert uses
    for where, found in uses.items():
        key = _vocabulary_key(where)
        assert key in VOCABULARIES, f"{where}: an enum with no known vocabulary"
        assert found, f"{where}: no example on the page sends a value of this enum"
        assert set(found[0].codes) == VOCABULARIES[key], where


@pytest.mark.parametrize("agency", AGENCIES)
async def test_the_adapter_accepts_every_listed_code_and_refuses_others(
    hub: Hub, agency: str
) -> None:
    wrong: list[str] = []
    for where, found in _uses(await _schema(hub, agency), agency).items():
        use = found[0]
        for code in use.codes:
            if _names(await _probe(hub, agency, use, code), use):
                wrong.append(f"{where}: listed code {code!r} refused at {_pointer(use.path)}")
        refused = _names(await _probe(hub, agency, use, OUTSIDE), use)
        if refused == (_vocabulary_key(where) in LENIENT):
            wrong.append(f"{where}: {OUTSIDE!r} {'refused' if refused else 'accepted'}")
    assert wrong == []


async def test_an_unknown_census_factor_is_published_without_it_and_warned(hub: Hub) -> None:
    """The one lenient list: the record is published, without the code, with a warning."""
    schema = await _schema(hub, "CHILDRENS_SERVICES")
    (example,) = [e for e in documented_examples(schema) if e.name == "cin-referral"]
    document = copy.deepcopy(example.value)
    document["record_id"] = "CS-2026-008398"
    document["assessment_factors"] = ["10A", OUTSIDE]
    token = await hub.token("CHILDRENS_SERVICES")
    response = await post_example(hub.adapters["CHILDRENS_SERVICES"], token, example, document)
    assert response.status_code == 202, response.text
    assert [(w["pointer"], w["code"]) for w in response.json()["warnings"]] == [
        ("/assessment_factors/1", "census_factor_unknown")
    ]
