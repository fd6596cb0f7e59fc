"""The demo's traffic (services/synthetic/traffic.py): the population's children come back
through different agencies, each agency with its own view of the identifiers; missing
episodes cluster in a few children; NRM referrals and immediate danger at the shares the
module docstring states."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import pytest

from services.synthetic.traffic import PopulationTraffic, Sent

NOW = dt.datetime(2026, 11, 18, 10, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def sent() -> list[Sent]:
    traffic = PopulationTraffic(seed=21, now=NOW, run="T")
    return [traffic.next() for _ in range(5000)]


def _child(s: Sent) -> tuple[int, int]:
    return s.population, s.child_id


def _subject(s: Sent) -> dict[str, object]:
    """The identifiers part of a police, children's services or charity document."""
    if s.agency == "POLICE":
        return dict(s.document["subject"])
    if s.agency == "CHILDRENS_SERVICES":
        return dict(s.document["child"])
    return s.document


def test_the_same_seed_sends_the_same_records() -> None:
    first = PopulationTraffic(seed=4, now=NOW)
    second = PopulationTraffic(seed=4, now=NOW)
    assert [first.next() for _ in range(30)] == [second.next() for _ in range(30)]
    assert [first.next() for _ in range(5)] != [
        PopulationTraffic(seed=5, now=NOW).next() for _ in range(5)
    ]


def test_children_come_back_through_different_agencies(sent: list[Sent]) -> None:
    agencies: dict[tuple[int, int], set[str]] = defaultdict(set)
    for s in sent:
        agencies[_child(s)].add(s.agency)
    records = Counter(_child(s) for s in sent)
    repeat = [c for c, n in records.items() if n > 1]
    assert len(repeat) > 0.35 * len(records)  # chronologies longer than one card
    assert sum(len(agencies[c]) > 1 for c in repeat) > 0.6 * len(repeat)


def test_each_agency_sends_the_identifiers_as_it_holds_them(sent: list[Sent]) -> None:
    def without_nhs(agency: str) -> float:
        of = [s for s in sent if s.agency == agency]
        return sum(not _subject(s).get("nhs_number") for s in of) / len(of)

    assert without_nhs("POLICE") > 0.75
    assert without_nhs("VOLUNTARY_SECTOR") > 0.8
    assert without_nhs("CHILDRENS_SERVICES") < 0.3
    nicknames = [s for s in sent if "nickname" in s.held.corruptions]
    assert nicknames
    for s in nicknames:
        if s.agency != "HEALTH" and s.held.given_name:
            assert _subject(s)["given_name"] == s.held.given_name
    moved = [s for s in sent if "old_postcode" in s.held.corruptions and s.agency == "POLICE"]
    assert moved
    assert all(_subject(s)["postcode"] == s.held.postcode for s in moved)
    for s in sent:
        if s.agency == "HEALTH":
            # The FHIR profile requires the NHS number: the trust's system holds one even when
            # the population's view of the record lacks it (then it is the child's own).
            sent_nhs = s.document["entry"][0]["resource"]["identifier"][0]["value"]
            assert sent_nhs
            if s.held.nhs_number:
                assert sent_nhs == s.held.nhs_number


def test_missing_episodes_cluster_in_a_few_children(sent: list[Sent]) -> None:
    missing = [s for s in sent if s.document.get("record_type") == "MISSING_PERSON"]
    per_child = Counter(_child(s) for s in missing)
    ranked = sorted(per_child.values(), reverse=True)
    top_fifth = ranked[: max(1, len(ranked) // 5)]
    assert sum(top_fifth) > 0.6 * len(missing)
    assert max(s.document["episodes_last_90_days"] for s in missing) >= 6


def test_nrm_referrals_and_immediate_danger_at_realistic_shares(sent: list[Sent]) -> None:
    def is_nrm(s: Sent) -> bool:
        return "exploitation_account" in s.document and s.document.get("kind") in (
            None,
            "NRM_REFERRAL",
        )

    nrm = [s for s in sent if is_nrm(s)]
    assert 0.001 < len(nrm) / len(sent) < 0.012
    assert all(s.agency != "HEALTH" for s in nrm)  # NHS bodies are not first responders

    def danger(s: Sent) -> tuple[bool, str]:
        if s.agency == "HEALTH":
            encounter = s.document["entry"][1]["resource"]
            parts = {p["url"]: p for p in encounter["extension"][0]["extension"]}
            return parts["immediateDanger"]["valueBoolean"], parts["riskLevel"]["valueCode"]
        if s.agency == "VOLUNTARY_SECTOR":
            return s.document["immediate_danger"], s.document["risk_level"]
        return s.document["risk"]["immediate_danger"], s.document["risk"]["level"]

    flagged = [danger(s) for s in sent]
    assert 0.02 < sum(d for d, _ in flagged) / len(sent) < 0.07
    assert all(level == "HIGH" for d, level in flagged if d)
