"""Native agency records for the rule tests: services.synthetic.native's builders, with the
one or two fields each rule turns on set explicitly.

Every record is what an integrator would post: police occurrence JSON, a FHIR R4 Bundle,
CIN census JSON or an SSDA903 CSV, a voluntary-sector form. References carry this run's id,
so records from earlier runs against the long-lived broker never collide.

Native fields and routes added for issue 12 (children normally resident, URNs written any
way, legacy code 2 authorisation, NRM referral routes for police and children's services) are
used as the adapters document them; a test that sends one fails with the adapter's 422 (or
404) if the adapter stops accepting it.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
import time
from typing import Any
from zoneinfo import ZoneInfo

from services.synthetic.native import (
    REFERRAL_EXTENSION,
    SSDA903_COLUMNS,
    NativeChild,
    NativeRecords,
    to_csv,
)
from tests.factories import FIXED_NOW

__all__ = [
    "CSC_NRM_PATH",
    "CSC_PATH",
    "HEALTH_PATH",
    "HUB_LA",
    "NOW",
    "OTHER_LA",
    "POLICE_NRM_PATH",
    "POLICE_PATH",
    "RUN",
    "SSDA903_PATH",
    "UK",
    "VCS_PATH",
    "Natives",
    "merge",
]

NOW = FIXED_NOW
UK = ZoneInfo("Europe/London")
RUN = f"R{time.time_ns() % 10**9:09d}"
HUB_LA = "LA-E09000099"
"""The responsible local authority subscriber's organisation (responsible-la)."""
OTHER_LA = "LA-E09000001"
"""A local authority with no subscriber on this hub."""

POLICE_PATH = "/v1/occurrences"
POLICE_NRM_PATH = "/v1/nrm-referrals"
HEALTH_PATH = "/v1/fhir/Bundle"
CSC_PATH = "/v1/cin-records"
CSC_NRM_PATH = "/v1/nrm-referrals"
SSDA903_PATH = "/v1/ssda903/missing-episodes"
VCS_PATH = "/v1/updates"

_child_ids = itertools.count(1)
_streams = itertools.count(1)


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with `patch` merged in (dicts merged, anything else replaced)."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


class Natives:
    """Native records for one test (its own seeded stream)."""

    def __init__(self, seed: int) -> None:
        # Each test's own reference space within the run: the adapters' idempotency stores
        # live for the session, and a reused reference would be a conflict (409).
        self.records = NativeRecords(seed=seed, now=NOW, run=f"{RUN}T{next(_streams)}")

    # ---- the child ------------------------------------------------------------------------
    def child(
        self,
        *,
        looked_after: bool = False,
        exploitation_flagged: bool = False,
        age: int | None = None,
        school_urn: str = "999001",
    ) -> NativeChild:
        """A fictional child; `age` in whole years at the records' time (about NOW)."""
        child = self.records.child(
            looked_after=looked_after, exploitation_flagged=exploitation_flagged
        )
        changes: dict[str, Any] = {
            "school_urn": school_urn,
            "la_child_id": f"L{RUN[-6:]}{next(_child_ids) % 1000:03d}",
        }
        if age is not None:
            born = NOW.date().replace(year=NOW.year - age) - dt.timedelta(days=40)
            changes["date_of_birth"] = born
        return dataclasses.replace(child, **changes)

    # ---- police (POST /v1/occurrences) ----------------------------------------------------
    def police_contact(
        self, child: NativeChild, *, at: dt.datetime | None = None
    ) -> dict[str, Any]:
        """A public protection notice naming a referrer and a third party."""
        record = self.records.police_ppn(child, at=at)
        record["subject"]["responsible_la"] = HUB_LA
        record["third_parties"] = [
            {
                "role": "mother's partner",
                "name": "Synthetic Partner",
                "organisation": None,
                "contact": "07700 900456",
            }
        ]
        return record

    def police_dash(
        self, child: NativeChild, *, school_urn: str | None, present: bool = True
    ) -> dict[str, Any]:
        record = self.records.police_dash(child)
        record["subject"]["school_urn"] = school_urn
        record["children_present"] = present
        return record

    def police_missing(
        self,
        child: NativeChild,
        *,
        status: str,
        risk_grade: str = "MEDIUM",
        episodes_last_90_days: int = 1,
        responsible_la: str | None = HUB_LA,
        placing_la: str | None = None,
    ) -> dict[str, Any]:
        since = NOW - dt.timedelta(hours=20)
        back = None if status == "REPORTED" else NOW - dt.timedelta(hours=2)
        record = self.records.police_missing(
            child,
            status=status,
            missing_since=since,
            found_or_returned_at=back,
            episodes_last_90_days=episodes_last_90_days,
        )
        record["risk_grade"] = risk_grade
        record["subject"]["responsible_la"] = responsible_la
        record["subject"]["placing_la"] = placing_la
        record["carer_contact"] = "0300 000 0200"
        record["third_parties"] = [
            {
                "role": "older associate",
                "name": "Synthetic Associate",
                "organisation": None,
                "contact": "07700 900789",
            }
        ]
        return record

    def police_intelligence(
        self,
        child: NativeChild,
        *,
        scheme: str,
        handling: str,
        assessment: str,
        authorisation: str | None = None,
        classification: str = "OFFICIAL-SENSITIVE",
    ) -> dict[str, Any]:
        """A graded intelligence report with a reporting person, a third party and source
        detail: everything R5 says must never leave police."""
        record = self.records.police_intelligence(child, legacy=scheme == "5x5x5")
        record["grading"] = {
            "scheme": scheme,
            "source_evaluation": "2" if scheme == "3x5x2" else "B",
            "intelligence_assessment": assessment,
            "handling_code": handling,
        }
        if authorisation is not None:
            record["grading"]["dissemination_authorisation"] = authorisation
        record["classification"] = classification
        record["sanitised_text"] = f"Synthetic sanitised intelligence {RUN}."
        record["source_details"] = f"Synthetic CHIS reference {RUN}-SRC (police only)."
        record["full_account"] = f"Synthetic unsanitised account {RUN}-FULL."
        record["referrer"] = {
            "role": "reporting person",
            "name": "Synthetic Informant",
            "organisation": None,
            "contact": "07700 900111",
        }
        record["third_parties"] = [
            {"role": "suspect", "name": "Synthetic Suspect", "organisation": None, "contact": None}
        ]
        return record

    def police_nrm(
        self,
        child: NativeChild,
        *,
        responsible_la: str | None = HUB_LA,
        placing_la: str | None = None,
    ) -> dict[str, Any]:
        """An NRM referral the force made as first responder (POST /v1/nrm-referrals)."""
        record = self.records.police_ppn(child)
        for key in ("record_type", "reason", "children_in_household"):
            record.pop(key)
        record["subject"]["responsible_la"] = responsible_la
        record["subject"]["placing_la"] = placing_la
        record["consent"] = {"status": "NOT_REQUIRED", "reason_not_sought": None}
        record.update(_nrm_fields(f"Synthetic child's account to police {RUN}-NRM."))
        return record

    # ---- health (POST /v1/fhir/Bundle) ----------------------------------------------------
    def health_alert(
        self,
        child: NativeChild,
        *,
        setting: str,
        cp_plan: bool = False,
        released: bool | None = None,
        contact_role: str | None = None,
    ) -> dict[str, Any]:
        """A FHIR safeguarding Bundle: Patient, Encounter (care setting, referral extension),
        an Observation with clinical detail, and a CP plan Flag when `cp_plan`."""
        bundle = self.records.health_bundle(
            child,
            setting=setting,
            seen_at=NOW - dt.timedelta(hours=3),
            cp_plan_since=(NOW - dt.timedelta(days=120)).date() if cp_plan else None,
        )
        referral = _referral_extension(bundle)
        if contact_role is not None:
            _set_sub_extension(referral, "contactRole", "valueString", contact_role)
        if released is not None:
            _set_sub_extension(referral, "releasedForCpDecision", "valueBoolean", released)
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "Observation":
                resource["note"] = [{"text": f"Synthetic clinical note {RUN}-CLIN."}]
        return bundle

    # ---- children's social care (POST /v1/cin-records, SSDA903 upload) -----------------------
    def csc_cp_plan(self, child: NativeChild) -> dict[str, Any]:
        return self.records.csc_cp_plan(child)

    def csc_looked_after(self, child: NativeChild) -> dict[str, Any]:
        return self.records.csc_looked_after(child)

    def csc_s47(self, child: NativeChild) -> dict[str, Any]:
        return self.records.csc_s47(child)

    def csc_referral(self, child: NativeChild) -> dict[str, Any]:
        return self.records.csc_referral(child)

    def csc_nrm(self, child: NativeChild, *, placing_la: str | None = None) -> dict[str, Any]:
        """An NRM referral the local authority made as first responder (POST
        /v1/nrm-referrals): the case-system record's common fields plus the NRM fields."""
        record = self.records.csc_referral(child)
        # primary_need too: an NRM referral refuses it (its notice has no place for it).
        for key in ("record_type", "referral_date", "referral_source", "primary_need"):
            record.pop(key)
        record["child"]["placing_la"] = placing_la
        record["consent"] = {"status": "NOT_REQUIRED", "reason_not_sought": None}
        record.update(_nrm_fields(f"Synthetic child's account to the LA {RUN}-NRM."))
        return record

    def ssda903_csv(
        self, child: NativeChild, *, with_return_time: bool = True, risk_grade: str = "MEDIUM"
    ) -> str:
        """One returned episode as an SSDA903 missing upload (UK local dates and times)."""
        start = NOW - dt.timedelta(days=2, hours=5)
        end = NOW - dt.timedelta(days=1, hours=3)
        row = self.records.ssda903_row(child, start=start, end=end)
        row["RISK_GRADE"] = risk_grade
        if not with_return_time:
            row["MIS_END_TIME"] = ""
        return to_csv([row], SSDA903_COLUMNS)

    # ---- voluntary sector (POST /v1/updates) -------------------------------------------------
    def vcs_update(
        self,
        child: NativeChild,
        *,
        kind: str,
        consent_status: str | None = "GIVEN",
        risk_level: str = "LOW",
    ) -> dict[str, Any]:
        form = self.records.vcs_update(child, kind=kind)
        if kind != "NRM_REFERRAL":
            form["consent_status"] = consent_status
            form["risk_level"] = risk_level
        return form


def _nrm_fields(account: str) -> dict[str, Any]:
    return {
        "exploitation_type": "CRIMINAL",
        "exploitation_account": account,
        "referred_at": _iso(NOW - dt.timedelta(hours=1)),
    }


def _referral_extension(bundle: dict[str, Any]) -> dict[str, Any]:
    for entry in bundle["entry"]:
        for extension in entry["resource"].get("extension", []):
            if extension.get("url") == REFERRAL_EXTENSION:
                found: dict[str, Any] = extension
                return found
    raise AssertionError("the synthetic bundle has no referral extension")


def _set_sub_extension(extension: dict[str, Any], name: str, element: str, value: Any) -> None:
    subs = [s for s in extension["extension"] if s["url"] != name]
    extension["extension"] = [*subs, {"url": name, element: value}]
