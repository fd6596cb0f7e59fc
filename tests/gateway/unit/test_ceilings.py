"""services/hubkit/ceilings.py: the IG ceilings expanded to field paths, and the excess of a
decision over them (with redaction's path semantics), on hand-written data files and on the
real ones under policies/."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.domain.redaction import is_permitted
from services.hubkit.ceilings import (
    AGENCIES_FILE,
    CEILINGS_FILE,
    FIELDS_FILE,
    Ceilings,
    CeilingsInvalid,
    DisclosureLimits,
    load_safeguarding_contacts,
)
from tests.factories import POLICIES

FIELDS: dict[str, Any] = {
    "paths": [
        "notice_id",
        "notice_type",
        "referrer",
        "contact_point",
        "subject.linkage_key",
        "subject.given_name",
        "narrative.summary",
        "narrative.full_account",
    ],
    "detail": {"ALERT": ["detail.setting", "detail.cpis_flag"], "MISSING": ["detail.status"]},
    "groups": {
        "flag": ["notice_id", "notice_type", "subject.linkage_key", "contact_point"],
        "identity": ["subject.linkage_key", "subject.given_name"],
    },
    "silent": ["referrer"],
}
CEILINGS: dict[str, Any] = {
    "never_anywhere": ["narrative.full_account"],
    "roles": {
        "MANAGER": {"ALERT": {"allow": ["ALL"], "never": ["detail.setting"]}},
        "PARTNER": {
            "ALERT": {"allow": ["outside", "detail.setting"], "never": []},
            "MISSING": {"allow": ["flag", "DETAIL"]},
        },
        "CLINICIAN": {},
    },
    "groups": {
        "outside": {"allow": ["inner", "narrative.summary", "referrer"], "never": ["referrer"]},
        "inner": {"allow": ["flag", "identity", "DETAIL"], "never": ["detail.setting"]},
    },
}
AGENCIES: dict[str, Any] = {
    "POLICE": {
        "name": "p",
        "safeguarding_contact": {
            "role": "Safeguarding hub",
            "organisation": "POL-XX01",
            "telephone": "0300",
        },
    },
    "HEALTH": {"name": "h"},
}


def _write(root: Path, files: dict[str, Any]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    return root


def _policies(
    root: Path,
    ceilings: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    agencies: dict[str, Any] | None = None,
) -> Path:
    return _write(
        root,
        {
            CEILINGS_FILE: CEILINGS if ceilings is None else ceilings,
            FIELDS_FILE: FIELDS if fields is None else fields,
            AGENCIES_FILE: AGENCIES if agencies is None else agencies,
        },
    )


def test_items_expand_as_the_about_says(tmp_path: Path) -> None:
    ceilings = Ceilings.load(_policies(tmp_path))
    # ALL is every common path plus the type's detail, minus the entry's and the file's never.
    assert ceilings.paths_for("MANAGER", "ALERT") == {
        "notice_id",
        "notice_type",
        "referrer",
        "contact_point",
        "subject.linkage_key",
        "subject.given_name",
        "narrative.summary",
        "detail.cpis_flag",
    }
    # Own groups nest (each its allow minus its never); a literal path adds back what a
    # group took away; field groups and DETAIL expand per notice type.
    assert ceilings.paths_for("PARTNER", "ALERT") == {
        "notice_id",
        "notice_type",
        "subject.linkage_key",
        "contact_point",
        "subject.given_name",
        "detail.cpis_flag",
        "narrative.summary",
        "detail.setting",
    }
    assert ceilings.paths_for("PARTNER", "MISSING") == {
        "notice_id",
        "notice_type",
        "subject.linkage_key",
        "contact_point",
        "detail.status",
    }


def test_what_the_file_does_not_list_gets_an_empty_ceiling(tmp_path: Path) -> None:
    ceilings = Ceilings.load(_policies(tmp_path))
    assert ceilings.paths_for("MANAGER", "MISSING") == frozenset()
    assert ceilings.paths_for("CLINICIAN", "ALERT") == frozenset()
    assert ceilings.paths_for("NOBODY", "ALERT") == frozenset()
    assert ceilings.excess("NOBODY", "ALERT", ["notice_id"]) == {"notice_id"}
    assert ceilings.roles == {"MANAGER", "PARTNER"}


def test_a_path_under_a_ceiling_path_is_within_and_a_container_is_not(tmp_path: Path) -> None:
    ceilings = Ceilings.load(_policies(tmp_path))
    assert ceilings.excess("MANAGER", "ALERT", ["notice_id", "detail.cpis_flag.plan_type"]) == (
        frozenset()
    )
    # "detail" whole would carry detail.setting, which the ceiling leaves out.
    assert ceilings.excess("MANAGER", "ALERT", ["notice_id", "detail", "detail.setting"]) == {
        "detail",
        "detail.setting",
    }


def test_never_takes_away_a_path_that_holds_a_never_path_too(tmp_path: Path) -> None:
    """A ceiling path carries everything under it, so it cannot keep detail.cpis_flag while
    never says detail.cpis_flag.plan_type: it fails closed, narrower."""
    ceilings = dict(CEILINGS)
    ceilings["roles"] = {
        "X": {"ALERT": {"allow": ["ALL"], "never": ["detail.cpis_flag.plan_type"]}}
    }
    loaded = Ceilings.load(_policies(tmp_path, ceilings=ceilings))
    assert "detail.cpis_flag" not in loaded.paths_for("X", "ALERT")
    assert loaded.excess("X", "ALERT", ["detail.cpis_flag.other"]) == {"detail.cpis_flag.other"}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            {"roles": {"X": {"ALERT": {"allow": ["flga"]}}}},
            "roles.X.ALERT.allow: unknown item 'flga'",
        ),
        (
            {"roles": {"X": {"ALERT": {"allow": ["ALL"], "never": ["detial.setting"]}}}},
            "roles.X.ALERT.never: unknown item 'detial.setting'",
        ),
        ({"roles": {"X": {"ALRET": {"allow": ["ALL"]}}}}, "'ALRET' is not a notice type"),
        ({"roles": {"X": {"ALERT": {"allow": ["ALL"], "nevr": []}}}}, "unknown keys ['nevr']"),
        ({"roles": {"X": {"ALERT": {"allow": "ALL"}}}}, "must be a list of non-empty strings"),
        ({"groups": {"a": {"allow": ["b"]}, "b": {"allow": ["a"]}}}, "refer to themselves"),
        ({"groups": {"flag": {"allow": ["notice_id"]}}}, "has the name of a field group"),
        ({"groups": {"unused": {"allow": ["typo"]}}}, "groups.unused.allow: unknown item"),
        ({"never_anywhere": ["nope"]}, "never_anywhere: unknown item 'nope'"),
    ],
    ids=[
        "typo-item",
        "typo-never",
        "typo-type",
        "typo-key",
        "not-a-list",
        "cycle",
        "shadowing",
        "unused-group",
        "never-anywhere",
    ],
)
def test_a_file_that_cannot_be_enforced_as_written_is_refused(
    tmp_path: Path, change: dict[str, Any], words: str
) -> None:
    changed = {**CEILINGS, **change, "groups": {**CEILINGS["groups"], **change.get("groups", {})}}
    with pytest.raises(CeilingsInvalid, match=r"ceilings/data\.json") as refused:
        Ceilings.load(_policies(tmp_path, ceilings=changed))
    assert words in str(refused.value)


def test_silent_paths_and_field_groups_must_be_known_paths(tmp_path: Path) -> None:
    with pytest.raises(CeilingsInvalid, match=r"'silent' names unknown paths \['refferer'\]"):
        Ceilings.load(_policies(tmp_path, fields={**FIELDS, "silent": ["refferer"]}))


def test_safeguarding_contacts_are_keyed_like_a_contact_point(tmp_path: Path) -> None:
    contacts = load_safeguarding_contacts(_policies(tmp_path))
    assert dict(contacts["POLICE"]) == {
        "role": "Safeguarding hub",
        "organisation": "POL-XX01",
        "telephone": "0300",
        "secure_email": None,
    }
    assert "HEALTH" not in contacts
    wrong = {"POLICE": {"safeguarding_contact": {"name": "hub", "phone": "0300"}}}
    with pytest.raises(CeilingsInvalid, match=r"unknown keys \['name', 'phone'\]"):
        load_safeguarding_contacts(_policies(tmp_path / "wrong", agencies=wrong))


def test_a_missing_file_names_itself(tmp_path: Path) -> None:
    _write(tmp_path, {FIELDS_FILE: FIELDS})
    with pytest.raises(CeilingsInvalid, match=r"ceilings/data\.json: missing"):
        DisclosureLimits.load(tmp_path)


# --- the real files -------------------------------------------------------------------------


@cache
def _real() -> DisclosureLimits:
    return DisclosureLimits.load(POLICIES)


@cache
def _raw(file: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((POLICIES / file).read_text())
    return data


def test_the_real_files_load_and_never_anywhere_is_in_no_ceiling() -> None:
    ceilings = _real().ceilings
    never = set(_raw(CEILINGS_FILE)["never_anywhere"])
    for role, per_type in _raw(CEILINGS_FILE)["roles"].items():
        for notice_type in per_type:
            assert not never & ceilings.paths_for(role, notice_type), (role, notice_type)


def test_the_voluntary_sector_gets_its_allow_list_and_nothing_else() -> None:
    ceilings = _real().ceilings
    allow = set(_raw(CEILINGS_FILE)["groups"]["voluntary_sector_allow"]["allow"])
    identity = set(_raw(FIELDS_FILE)["groups"]["identity"])
    assert ceilings.paths_for("VCS_MASH_PARTNER", "MISSING_EPISODE") == (
        (allow - {"identity"}) | identity
    )
    assert ceilings.paths_for("UNSCHEDULED_CARE_CLINICIAN", "HEALTH_SAFEGUARDING_ALERT") == set()


def test_a_literal_path_adds_back_what_a_group_takes_away() -> None:
    """R12: the LA sees the exploitation account of an NRM referral, although the LA ceiling
    group withholds it everywhere else."""
    ceilings = _real().ceilings
    assert "detail.exploitation_account" in ceilings.paths_for("SOCIAL_WORKER", "TRAFFICKING_NRM")
    assert "detail.exploitation_account" not in ceilings.paths_for(
        "EMERGENCY_DUTY_TEAM", "TRAFFICKING_NRM"
    )


def _candidates() -> list[str]:
    fields = _raw(FIELDS_FILE)
    paths = {*fields["paths"], *(p for listed in fields["detail"].values() for p in listed)}
    # Containers whole, paths under listed ones, and paths nobody lists.
    return sorted(paths | {"detail", "subject", "detail.cpis_flag.plan_type", "x.y"})


_ROLES = st.sampled_from(sorted({*_raw(CEILINGS_FILE)["roles"], "UNKNOWN_ROLE"}))
_TYPES = st.sampled_from(sorted({*_raw(FIELDS_FILE)["detail"], "UNKNOWN_TYPE"}))
_PERMITTED = st.frozensets(st.sampled_from(_candidates()))


@settings(max_examples=400, deadline=None)
@given(role=_ROLES, notice_type=_TYPES, permitted=_PERMITTED, more=_PERMITTED)
def test_excess_is_what_the_ceiling_does_not_cover(
    role: str, notice_type: str, permitted: frozenset[str], more: frozenset[str]
) -> None:
    ceilings = _real().ceilings
    ceiling = ceilings.paths_for(role, notice_type)
    excess = ceilings.excess(role, notice_type, permitted)
    # Exactly the permitted paths redaction would not find under a ceiling path.
    assert excess == {p for p in permitted if not is_permitted(p, ceiling)}
    # Checked path by path: a decision's excess is the union of its parts' excess.
    assert ceilings.excess(role, notice_type, permitted | more) == excess | ceilings.excess(
        role, notice_type, more
    )
    # The ceiling itself, and anything under it, is within; never_anywhere never is.
    assert not ceilings.excess(role, notice_type, ceiling | {f"{p}.child" for p in ceiling})
    for path in _raw(CEILINGS_FILE)["never_anywhere"]:
        assert ceilings.excess(role, notice_type, [path]) == {path}
    if role == "UNKNOWN_ROLE" or notice_type == "UNKNOWN_TYPE":
        assert excess == permitted
