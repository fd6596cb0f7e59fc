"""The probabilistic matcher (services/childindex/matching): trained once on a small synthetic
population, it joins the same child across agencies despite a missing NHS number, a nickname
and an old postcode, keeps siblings apart, and measures linkage quality correctly."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.childindex.matching.model import Thresholds, train_model
from services.childindex.matching.quality import linkage_quality
from services.childindex.matching.records import match_row
from services.childindex.matching.scoring import Linkage, ScoredPair, cluster, link_records
from services.synthetic.population import AgencyRecord, population

THRESHOLDS = Thresholds.load()


@dataclass(frozen=True)
class Record:
    """A record as an adapter would send it (the matcher's IdentifiedRecord port)."""

    record_id: str
    given_name: str | None = None
    family_name: str | None = None
    sex: str | None = None
    date_of_birth: dt.date | None = None
    postcode: str | None = None
    nhs_number: str | None = None
    upn: str | None = None
    la_child_id: str | None = None


@pytest.fixture(scope="module")
def records() -> tuple[AgencyRecord, ...]:
    return population(children=700, seed=3).records  # about 2,000 records


@pytest.fixture(scope="module")
def model(records: tuple[AgencyRecord, ...], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("matching") / "model.json"
    train_model(records, path)
    return path


HEALTH = Record(
    record_id="health-1",
    given_name="Alexander",
    family_name="Quillfeather",
    sex="M",
    date_of_birth=dt.date(2014, 3, 21),
    postcode="ZZ3 4AB",
    nhs_number="999 000 0018",
)
POLICE = Record(
    record_id="police-1",
    given_name="Alex",  # nickname
    family_name="QUILLFEATHER",
    sex="M",
    date_of_birth=dt.date(2014, 3, 21),
    postcode="ZZ17 2QT",  # the address before the family moved
)
SIBLING = Record(
    record_id="police-2",
    given_name="Rosalind",
    family_name="Quillfeather",
    sex="F",
    date_of_birth=dt.date(2010, 8, 2),
    postcode="ZZ3 4AB",
)


@pytest.fixture(scope="module")
def linkage(records: tuple[AgencyRecord, ...], model: Path) -> Linkage:
    return link_records([*records, HEALTH, POLICE, SIBLING], thresholds=THRESHOLDS, model=model)


def _together(linkage: Linkage, a: str, b: str) -> bool:
    where = linkage.cluster_of()
    return where[a] == where[b]


def test_a_police_record_with_nickname_and_old_postcode_links_to_health(linkage: Linkage) -> None:
    assert _together(linkage, "health-1", "police-1")


def test_siblings_are_not_linked(linkage: Linkage) -> None:
    assert not _together(linkage, "health-1", "police-2")
    assert not _together(linkage, "police-1", "police-2")
    assert all("police-2" not in (p.record_id_l, p.record_id_r) for p in linkage.review)


def test_the_trained_model_links_the_population_well(
    records: tuple[AgencyRecord, ...], linkage: Linkage
) -> None:
    truth = {r.record_id: r.child_id for r in records}
    where = linkage.cluster_of()
    quality = linkage_quality(predicted={r: where[r] for r in truth}, truth=truth)
    assert quality.pairwise_precision > 0.99
    assert quality.pairwise_recall > 0.95
    in_review = {rid for p in linkage.review for rid in (p.record_id_l, p.record_id_r)}
    assert len(in_review) / len(records) < 0.05


def test_equal_valid_nhs_numbers_always_link_whatever_else_differs() -> None:
    result = cluster(
        ["a", "b", "c"],
        deterministic=[("a", "c")],
        scored=[ScoredPair("a", "b", 0.0001)],
        thresholds=THRESHOLDS,
    )
    assert frozenset({"a", "c"}) in result.clusters
    assert frozenset({"b"}) in result.clusters


def test_review_pairs_are_those_left_in_two_clusters() -> None:
    middle = (THRESHOLDS.review + THRESHOLDS.same_child) / 2
    result = cluster(
        ["a", "b", "c", "d"],
        deterministic=[],
        scored=[
            ScoredPair("a", "b", THRESHOLDS.same_child),
            ScoredPair("a", "c", THRESHOLDS.same_child),
            ScoredPair("b", "c", middle),  # already one child through a
            ScoredPair("c", "d", middle),
            ScoredPair("a", "d", THRESHOLDS.review / 2),  # different children
        ],
        thresholds=THRESHOLDS,
    )
    assert result.clusters == (frozenset("abc"), frozenset("d"))
    assert result.review == (ScoredPair("c", "d", middle),)


def test_match_row_normalises_what_the_comparisons_read() -> None:
    row = match_row(POLICE)
    assert row["given_name"] == "alex"
    assert row["given_name_formal"] == "alexander"
    assert row["family_name"] == "quillfeather"
    assert row["postcode_district"] == "ZZ17"
    assert row["birth_year"] == 2014
    assert match_row(Record("x", nhs_number="999 000 0019"))["nhs_number"] is None  # bad check
    assert match_row(Record("y", family_name="Oakley-Fernhurst"))["family_name_parts"] == [
        "oakley",
        "fernhurst",
    ]


def _labels(draw_sizes: list[int]) -> Iterator[tuple[str, int]]:
    n = 0
    for label, size in enumerate(draw_sizes):
        for _ in range(size):
            n += 1
            yield f"r{n}", label


@given(st.lists(st.integers(1, 6), min_size=1, max_size=20))
def test_quality_is_perfect_for_the_truth_and_singletons_have_no_recall(sizes: list[int]) -> None:
    truth = dict(_labels(sizes))
    perfect = linkage_quality(predicted=truth, truth=truth)
    assert perfect.pairwise_precision == perfect.pairwise_recall == 1.0
    assert perfect.cluster_f1 == pytest.approx(1.0)
    singletons = linkage_quality(predicted={r: i for i, r in enumerate(truth)}, truth=truth)
    assert singletons.pairwise_precision == 1.0
    assert singletons.bcubed_precision == pytest.approx(1.0)
    if any(size > 1 for size in sizes):
        assert singletons.pairwise_recall == 0.0
        assert singletons.bcubed_recall < 1.0
    merged = linkage_quality(predicted=dict.fromkeys(truth, 0), truth=truth)
    assert merged.pairwise_recall == 1.0
    assert merged.bcubed_recall == pytest.approx(1.0)


def test_the_shipped_model_links_the_same_child(records: tuple[AgencyRecord, ...]) -> None:
    shipped = link_records([*records[:300], HEALTH, POLICE, SIBLING], thresholds=THRESHOLDS)
    assert _together(shipped, "health-1", "police-1")
    assert not _together(shipped, "health-1", "police-2")
