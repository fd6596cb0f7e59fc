"""The same child reported by different agencies, each recording them its own way, links up."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.adapters.helpers import KEYER, map_native, native


def test_linked_week_police_health_csc_share_one_key() -> None:
    week = native().linked_week()
    notices = [
        map_native("POLICE", week.police_dash),
        map_native("HEALTH", week.health_bundle),
        map_native("CHILDRENS_SERVICES", week.csc_referral),
    ]
    keys = {n["subject"]["linkage_key"] for n in notices}
    assert keys == {KEYER.key_for(nhs_number=week.child.nhs_number)}
    # ... although each agency spelled the family name differently.
    names = {n["subject"]["family_name"] for n in notices}
    assert len(names) > 1
    created = sorted(n["created_at"] for n in notices)
    assert created[-1] - created[0] < dt.timedelta(days=7)


@pytest.mark.parametrize(
    ("given", "family", "postcode"),
    [
        ("Roan", "CARROW-HYTHE", "ZZ4 2AB"),
        ("roan", "Carrow Hythe", "zz42ab"),
        (" ROAN ", "carrow-hythe", "ZZ4  2AB"),
        ("Roan", "Carrow\u2013Hythe", "zz4 2ab"),
    ],
)
def test_demographic_variations_link_without_nhs_number(
    given: str, family: str, postcode: str
) -> None:
    records = native()
    child = records.child()
    police = records.police_ppn(child)
    police["subject"].update(
        nhs_number=None,
        given_name="Roan",
        family_name="Carrow-Hythe",
        date_of_birth="2012-03-04",
        postcode="ZZ4 2AB",
    )
    form = records.vcs_update(child, kind="CONCERN")
    form.update(
        nhs_number=None,
        given_name=given,
        family_name=family,
        date_of_birth="04/03/2012",
        postcode=postcode,
    )
    assert (
        map_native("POLICE", police)["subject"]["linkage_key"]
        == map_native("VOLUNTARY_SECTOR", form)["subject"]["linkage_key"]
    )


def test_different_children_do_not_link() -> None:
    records = native()
    first, second = records.child(), records.child()
    keys = {
        map_native("POLICE", records.police_ppn(first))["subject"]["linkage_key"],
        map_native("POLICE", records.police_ppn(second))["subject"]["linkage_key"],
    }
    assert len(keys) == 2
