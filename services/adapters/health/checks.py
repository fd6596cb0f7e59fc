"""Every problem of a FHIR Bundle in one answer (issue 21). Pure.

A Bundle is checked for its shape (the profile model's limits, FHIR R4 validity, elements the
hub does not read: `FhirBundle`) and against the hub's profile (NHS number, names, care
setting, referral extension, plan flag, codes, clinical detail: `mapping.py`). The profile
checks need parsed resources; when the shape is wrong they run anyway on every entry that
parses on its own (an entry that does not is left out of them, keeping its place, so each
pointer still names the entry as sent), and the answer carries both sets of problems. The
Patient and Encounter counts are checked only when every Patient and Encounter entry parses:
one that does not is already named, and counting without it would name it twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from pydantic import ValidationError

from services.adapters.health.mapping import map_fhir_bundle
from services.adapters.health.models import BundleEntry, FhirBundle, Identifier, OtherResource
from services.adapters.ingest.child_keys import WantedKeys
from services.adapters.ingest.mapping import MappingContext, MappingFailed
from services.adapters.ingest.problems import FieldError, field_errors_from_validation

__all__ = ["bundle_problems"]

# Stand-ins for what the profile checks do not read, in a Bundle rebuilt from its good entries.
_SOME_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_COUNTED = ("Patient", "Encounter")


def bundle_problems(
    document: Any, ctx: MappingContext
) -> tuple[FhirBundle | None, list[FieldError]]:
    """The parsed Bundle, or None and every problem found in it (shape and profile)."""
    try:
        return FhirBundle.model_validate(document), []
    except ValidationError as failed:
        problems = field_errors_from_validation(failed.errors(), document)
    partial = _good_entries(document)
    if partial is None:
        return None, problems
    bundle, all_counted = partial
    known = {(p.pointer, p.code) for p in problems}
    for problem in _profile_problems(bundle, ctx):
        if problem.code in ("patient_count", "encounter_count") and not all_counted:
            continue
        if (problem.pointer, problem.code) not in known:
            problems.append(problem)
    return None, problems


def _good_entries(document: Any) -> tuple[FhirBundle, bool] | None:
    """A Bundle of the entries that parse on their own (others replaced in place), and whether
    every Patient and Encounter entry was among them."""
    entries = document.get("entry") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return None
    kept: list[BundleEntry] = []
    all_counted = True
    for entry in entries:
        try:
            kept.append(BundleEntry.model_validate(entry))
        except ValidationError:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            kind = resource.get("resourceType") if isinstance(resource, dict) else None
            all_counted = all_counted and kind not in _COUNTED
            placeholder = OtherResource.model_construct(resourceType="unreadable")
            kept.append(BundleEntry.model_construct(resource=placeholder))
    bundle = FhirBundle.model_construct(
        resourceType="Bundle",
        identifier=Identifier.model_construct(value="unread"),
        type="collection",
        timestamp=_SOME_TIME,
        entry=kept,
    )
    return bundle, all_counted


def _profile_problems(bundle: FhirBundle, ctx: MappingContext) -> list[FieldError]:
    try:
        map_fhir_bundle(bundle, dataclasses.replace(ctx, child_keys=WantedKeys()))
    except MappingFailed as failed:
        return list(failed.errors)
    return []
