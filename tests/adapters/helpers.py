"""Shared helpers for adapter tests: mapping contexts, synthetic native records, corruptions."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from services.adapters.childrens_services.mapping import map_csc_record
from services.adapters.childrens_services.models import CscRecord
from services.adapters.health.mapping import map_fhir_bundle
from services.adapters.health.models import FhirBundle
from services.adapters.ingest.mapping import Mapped, MappingContext, Notice
from services.adapters.police.mapping import map_police_record
from services.adapters.police.models import PoliceRecord
from services.adapters.voluntary_sector.mapping import map_vcs_update
from services.adapters.voluntary_sector.models import VcsUpdateForm
from services.childindex.domain import LinkageKeyer
from services.hubkit.topology import load_topology
from services.synthetic.native import NativeRecords
from tests.factories import FIXED_NOW, POLICIES, TEST_LINKAGE_SECRET

AGENCIES = ("POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR")
KEYER = LinkageKeyer(TEST_LINKAGE_SECRET)
PATHS = {
    "POLICE": "/v1/occurrences",
    "HEALTH": "/v1/fhir/Bundle",
    "CHILDRENS_SERVICES": "/v1/cin-records",
    "VOLUNTARY_SECTOR": "/v1/updates",
}


def context(agency: str, keyer: LinkageKeyer = KEYER) -> MappingContext:
    entry = load_topology(POLICIES).agency(agency)
    return MappingContext(
        agency=entry.code,
        organisation_code=entry.organisation,
        organisation_name=entry.name,
        child_keys=keyer,
    )


def native(seed: int = 11) -> NativeRecords:
    return NativeRecords(seed=seed, now=FIXED_NOW)


_POLICE: TypeAdapter[PoliceRecord] = TypeAdapter(PoliceRecord)
_CSC: TypeAdapter[CscRecord] = TypeAdapter(CscRecord)


def parse(agency: str, document: dict[str, Any]) -> Any:
    """Validate a native JSON document with the agency's model (as the adapter does)."""
    match agency:
        case "POLICE":
            return _POLICE.validate_python(document)
        case "HEALTH":
            return FhirBundle.model_validate(document)
        case "CHILDRENS_SERVICES":
            return _CSC.validate_python(document)
        case "VOLUNTARY_SECTOR":
            return VcsUpdateForm.model_validate(document)
    raise ValueError(agency)


MAPPERS: dict[str, Callable[[Any, MappingContext], Mapped]] = {
    "POLICE": map_police_record,
    "HEALTH": map_fhir_bundle,
    "CHILDRENS_SERVICES": map_csc_record,
    "VOLUNTARY_SECTOR": map_vcs_update,
}


def mapped(agency: str, document: dict[str, Any], keyer: LinkageKeyer = KEYER) -> Mapped:
    """The notice and the warnings the adapter would answer 202 with."""
    return MAPPERS[agency](parse(agency, document), context(agency, keyer))


def map_native(agency: str, document: dict[str, Any], keyer: LinkageKeyer = KEYER) -> Notice:
    return mapped(agency, document, keyer).notice


@dataclass(frozen=True)
class Corruption:
    """A malformed record and the JSON pointer its error must name."""

    document: dict[str, Any]
    pointer: str


def corrupt(agency: str, document: dict[str, Any], rng: random.Random) -> Corruption:
    """One realistic mistake in a native record, with where the adapter must say it is."""
    bad = copy.deepcopy(document)
    choice = rng.randrange(3)
    if agency == "HEALTH":
        patient = bad["entry"][0]["resource"]
        if choice == 0:
            patient["identifier"][0]["value"] = _bad_nhs(patient["identifier"][0]["value"])
            return Corruption(bad, "/entry/0/resource/identifier/0/value")
        if choice == 1:
            patient["birthDate"] = "2013-02-30"
            return Corruption(bad, "/entry/0/resource/birthDate")
        del bad["timestamp"]
        return Corruption(bad, "/timestamp")
    if agency == "POLICE":
        if choice == 0:
            bad["subject"]["nhs_number"] = _bad_nhs(bad["subject"]["nhs_number"])
            return Corruption(bad, "/subject/nhs_number")
        if choice == 1:
            bad["recorded_at"] = "2026-11-18T21:40:00"  # no offset
            return Corruption(bad, "/recorded_at")
        del bad["consent"]["reason_not_sought"]
        return Corruption(bad, "/consent/reason_not_sought")
    if agency == "CHILDRENS_SERVICES":
        if choice == 0:
            # An unknown census factor is a warning, not an error (it never sinks a record).
            bad["risk"]["level"] = "SEVERE"
            return Corruption(bad, "/risk/level")
        if choice == 1:
            bad["child"]["LAchildID"] = ""
            return Corruption(bad, "/child/LAchildID")
        bad["primary_need"] = "N12"
        return Corruption(bad, "/primary_need")
    if choice == 0:
        bad["risk_level"] = "SEVERE"
        return Corruption(bad, "/risk_level")
    if choice == 1:
        bad["date_of_birth"] = "31/02/2012"
        return Corruption(bad, "/date_of_birth")
    del bad["worker_telephone"]
    return Corruption(bad, "/worker_telephone")


def _bad_nhs(valid: str) -> str:
    digits = valid.replace(" ", "")
    return digits[:9] + str((int(digits[9]) + 1) % 10)
