"""The synthetic population (services/synthetic/population.py): deterministic per seed, its
ground truth consistent, its corruption rates within the bounds its docstring states."""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.hubkit.linkage import is_valid_nhs_number
from services.synthetic.population import NICKNAMES, AgencyRecord, Child, Population, population


@pytest.fixture(scope="module")
def large() -> Population:
    return population(children=4000, seed=15)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), children=st.integers(1, 60))
def test_the_same_seed_gives_the_same_population(seed: int, children: int) -> None:
    first = population(children=children, seed=seed)
    assert first == population(children=children, seed=seed)
    assert len(first.children) == children


def test_different_seeds_give_different_populations() -> None:
    assert population(children=50, seed=1) != population(children=50, seed=2)


def test_ground_truth_is_consistent(large: Population) -> None:
    children = {c.child_id: c for c in large.children}
    assert len(children) == len(large.children)
    assert len({r.record_id for r in large.records}) == len(large.records)
    assert len({c.nhs_number for c in large.children}) == len(large.children)
    assert all(
        is_valid_nhs_number(c.nhs_number) and c.nhs_number.startswith("999") for c in large.children
    )
    assert set(large.records_per_child()) == set(children)
    for record in large.records:
        child = children[record.child_id]
        if "nhs_sibling" in record.corruptions:
            assert record.nhs_number != child.nhs_number
        else:
            assert record.nhs_number in (None, child.nhs_number)
        assert record.upn in (None, child.upn)
        assert record.la_child_id in (None, child.la_child_id)
        if not record.corruptions - {"nhs_missing"}:
            # An uncorrupted record is the child's identity as it is.
            assert (record.given_name, record.family_name, record.date_of_birth) == (
                child.given_name,
                child.family_name,
                child.date_of_birth,
            )
            assert record.postcode == child.postcode
            assert record.sex == child.sex


def test_siblings_share_family_name_and_postcode_but_not_given_name(large: Population) -> None:
    families: dict[int, list[Child]] = {}
    for child in large.children:
        families.setdefault(child.family_id, []).append(child)
    sibling_groups = [group for group in families.values() if len(group) > 1]
    assert len(sibling_groups) > len(families) * 0.3
    for group in sibling_groups:
        assert len({(c.family_name, c.postcode) for c in group}) == 1
        assert len({c.given_name for c in group}) == len(group)
        # Born in different years, except twins (the second names the first).
        births = [c.date_of_birth.year for c in group if c.twin_of is None]
        assert len(set(births)) == len(births)


def test_twins_differ_only_in_given_name_and_what_agencies_number_them(
    large: Population,
) -> None:
    children = {c.child_id: c for c in large.children}
    second_twins = [c for c in large.children if c.twin_of is not None]
    assert 0.01 < 2 * len(second_twins) / len(children) < 0.05  # about 3% of children
    same_sex = 0
    for second in second_twins:
        assert second.twin_of is not None
        first = children[second.twin_of]
        assert first.twin_of is None  # a pair, not a chain
        assert (first.family_id, first.date_of_birth, first.postcode, first.family_name) == (
            second.family_id,
            second.date_of_birth,
            second.postcode,
            second.family_name,
        )
        assert first.given_name != second.given_name
        assert first.nhs_number != second.nhs_number
        same_sex += first.sex == second.sex
    assert same_sex > len(second_twins) / 2  # identical twins are always the same sex


def test_records_per_child_are_skewed(large: Population) -> None:
    counts = large.records_per_child()
    distribution = Counter(counts.values())
    assert distribution[1] / len(counts) > 0.4  # most children have one or two records
    assert (distribution[1] + distribution[2]) / len(counts) > 0.65
    many = [child for child, n in counts.items() if n > 6]
    assert 0.02 < len(many) / len(counts) < 0.08  # a minority with many
    missing = [r for r in large.records if r.event == "missing_episode"]
    children_missing = {r.child_id for r in missing}
    assert len(children_missing) / len(counts) < 0.08  # missing episodes in few children
    assert len(missing) / len(large.records) > 0.2


def _rate(records: list[AgencyRecord], corruption: str) -> float:
    return sum(corruption in r.corruptions for r in records) / len(records)


def test_corruption_rates_are_within_stated_bounds(large: Population) -> None:
    records = list(large.records)
    by_agency = {
        a: [r for r in records if r.agency == a]
        for a in ("police", "health", "childrens_services", "voluntary_sector")
    }
    assert _rate(by_agency["police"], "nhs_missing") > 0.80
    assert _rate(by_agency["voluntary_sector"], "nhs_missing") > 0.85
    assert _rate(by_agency["health"], "nhs_missing") < 0.06
    assert 0.03 < _rate(records, "given_typo") < 0.05
    assert 0.02 < _rate(records, "family_typo") < 0.04
    assert 0.02 < _rate(records, "dob_missing") < 0.06
    assert 0.005 < _rate(records, "dob_swapped") < 0.03
    assert 0.005 < _rate(records, "dob_digit") < 0.03
    assert 0.0005 < _rate(by_agency["health"], "nhs_sibling") < 0.005
    assert not any("nhs_sibling" in r.corruptions for r in records if r.agency != "health")
    assert 0.05 < _rate(records, "old_postcode") < 0.2
    assert 0.005 < _rate(records, "double_barrel_reduced") < 0.06
    assert 0.02 < _rate(records, "nickname") < 0.1


def test_each_corruption_is_what_it_says(large: Population) -> None:
    children = {c.child_id: c for c in large.children}
    for record in large.records:
        child = children[record.child_id]
        if "dob_swapped" in record.corruptions and record.date_of_birth:
            true = child.date_of_birth
            assert true.day <= 12
            assert record.date_of_birth == true.replace(month=true.day, day=true.month)
        if "nickname" in record.corruptions and not record.corruptions & {
            "given_typo",
            "given_missing",
        }:
            assert record.given_name in NICKNAMES[child.given_name]
        if "dob_digit" in record.corruptions and record.date_of_birth:
            true = child.date_of_birth
            written, typed = (f"{d:%d%m%y}" for d in (true, record.date_of_birth))
            assert sum(a != b for a, b in zip(written, typed, strict=True)) == 1
            assert record.date_of_birth.year // 100 == true.year // 100
        if "nhs_sibling" in record.corruptions:
            siblings = {
                c.nhs_number
                for c in large.children
                if c.family_id == child.family_id and c is not child
            }
            assert record.nhs_number in siblings
            assert is_valid_nhs_number(record.nhs_number or "")
        if "old_postcode" in record.corruptions and "postcode_missing" not in record.corruptions:
            assert record.postcode == child.previous_postcode
        if "double_barrel_reduced" in record.corruptions and not record.corruptions & {
            "family_typo",
            "family_missing",
        }:
            assert record.family_name in child.family_name.split("-")
