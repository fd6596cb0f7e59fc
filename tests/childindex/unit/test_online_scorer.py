"""The online scorer (services/childindex/matching/online.py) is the trained Splink model, not
an approximation of it: on the same two rows with the same term frequencies it reaches the same
level of every comparison and the same match weight as Splink's `score_pairs`; its blocking
keys pair exactly the records Splink's blocking rules pair; and a model.json whose comparisons
changed is refused at load instead of being scored with stale predicates."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # Splink's own dependency, unstubbed
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from splink import DuckDBAPI, Linker

from services.childindex.matching.model import MODEL_FILE
from services.childindex.matching.online import (
    ModelMismatch,
    TermFrequencies,
    TrainedModel,
    blocking_keys,
    jaro_winkler_similarity,
    within_one_edit,
)
from services.childindex.matching.records import match_row
from services.synthetic.population import AgencyRecord, population

MODEL = TrainedModel.load()
SAVED = json.loads(MODEL_FILE.read_text())

_TEXT = pa.string()
# Typed explicitly: a column that is null in every row of a small batch would otherwise reach
# DuckDB with no type, and jaro_winkler_similarity / list_has_any would not bind.
_ROW_SCHEMA = pa.schema(
    [
        ("record_id", _TEXT),
        ("given_name", _TEXT),
        ("given_name_formal", _TEXT),
        ("family_name", _TEXT),
        ("family_name_parts", pa.list_(_TEXT)),
        ("sex", _TEXT),
        ("date_of_birth", _TEXT),
        ("birth_year", pa.int64()),
        ("postcode", _TEXT),
        ("postcode_district", _TEXT),
        ("nhs_number", _TEXT),
        ("upn", _TEXT),
        ("la_child_id", _TEXT),
    ]
)
_WITH_TF = _ROW_SCHEMA.append(pa.field("tf_given_name", pa.float64())).append(
    pa.field("tf_family_name", pa.float64())
)

Row = dict[str, Any]
Pair = tuple[str, str]


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


# -- Splink, scoring the same rows ----------------------------------------------------------


@dataclass(frozen=True)
class SplinkScore:
    match_weight: float
    match_probability: float
    levels: dict[str, str]


def _gamma_labels() -> dict[str, dict[int, str]]:
    """Splink's comparison vector value -> level label: -1 for the null level, then the other
    levels counting down to 0 (the ELSE level)."""
    labels: dict[str, dict[int, str]] = {}
    for comparison in SAVED["comparisons"]:
        levels = comparison["comparison_levels"]
        others = [lv for lv in levels if not lv.get("is_null_level")]
        by_gamma = {len(others) - 1 - n: lv["label_for_charts"] for n, lv in enumerate(others)}
        by_gamma.update((-1, lv["label_for_charts"]) for lv in levels if lv.get("is_null_level"))
        labels[comparison["output_column_name"]] = by_gamma
    return labels


GAMMA_LABELS = _gamma_labels()


class SplinkScorer:
    """linker.inference.score_pairs on the shipped model.json, the term frequencies supplied
    as hardcoded tf_given_name / tf_family_name columns."""

    def __init__(self) -> None:
        self._linker = Linker(
            DuckDBAPI().register(pa.Table.from_pylist([], schema=_ROW_SCHEMA)),
            str(MODEL_FILE),
            log_level=logging.WARNING,
        )
        self._calls = 0

    def score_all(
        self, lefts: Sequence[Row], rights: Sequence[Row], tf: TermFrequencies
    ) -> dict[Pair, SplinkScore]:
        """Every left row against every right row (score_pairs takes the cartesian product)."""
        tables = []
        for side, rows in (("left", lefts), ("right", rights)):
            self._calls += 1
            with_tf = [
                {
                    **row,
                    "tf_given_name": tf.frequency("given_name", row["given_name"]),
                    "tf_family_name": tf.frequency("family_name", row["family_name"]),
                }
                for row in rows
            ]
            tables.append(
                self._linker.table_management.register_table(
                    pa.Table.from_pylist(with_tf, schema=_WITH_TF),
                    f"online_scorer_{side}_{self._calls}",
                    overwrite=True,
                )
            )
        scored = self._linker.inference.score_pairs(tables[0], tables[1]).as_record_list()
        return {
            (str(r["record_id_l"]), str(r["record_id_r"])): SplinkScore(
                match_weight=float(r["match_weight"]),
                match_probability=float(r["match_probability"]),
                levels={
                    name: by_gamma[int(r[f"gamma_{name}"])]
                    for name, by_gamma in GAMMA_LABELS.items()
                },
            )
            for r in scored
        }


@pytest.fixture(scope="module")
def splink() -> SplinkScorer:
    return SplinkScorer()


@dataclass
class Agreement:
    pairs: int = 0
    exact_weights: int = 0
    max_weight_diff: float = 0.0
    max_probability_diff: float = 0.0


def _assert_same_as_splink(
    splink: SplinkScorer,
    lefts: Sequence[Row],
    rights: Sequence[Row],
    tf: TermFrequencies,
    agreement: Agreement | None = None,
) -> None:
    expected = splink.score_all(lefts, rights, tf)
    for left in lefts:
        for right in rights:
            want = expected[(left["record_id"], right["record_id"])]
            got = MODEL.score(left, right, tf)
            context = f"{left} vs {right}"
            assert got.levels == want.levels, context
            assert abs(got.match_weight - want.match_weight) < 1e-9, context
            assert abs(got.match_probability - want.match_probability) < 1e-12, context
            if agreement is not None:
                agreement.pairs += 1
                agreement.exact_weights += got.match_weight == want.match_weight
                agreement.max_weight_diff = max(
                    agreement.max_weight_diff, abs(got.match_weight - want.match_weight)
                )
                agreement.max_probability_diff = max(
                    agreement.max_probability_diff,
                    abs(got.match_probability - want.match_probability),
                )


# -- a fixed sample of the synthetic population -----------------------------------------------


@pytest.fixture(scope="module")
def people() -> tuple[AgencyRecord, ...]:
    return population(children=1200, seed=15).records


def _sample_pairs(records: Sequence[AgencyRecord]) -> list[tuple[AgencyRecord, AgencyRecord]]:
    """~2,000 pairs: 1,000 of one child (corrupted records first: nicknames, typos, swapped
    dates, cut double-barrelled names, missing values), 500 of different children that
    Splink's blocking would still pair (siblings, twins, shared birthdays and names), 500 of
    different children at random."""
    rng = random.Random(15)
    by_child: dict[int, list[AgencyRecord]] = defaultdict(list)
    for record in records:
        by_child[record.child_id].append(record)
    same = [pair for rs in by_child.values() for pair in combinations(rs[:6], 2)]
    # A missing NHS number is the common case, not a corruption worth seeking out.
    corrupted = [p for p in same if (p[0].corruptions | p[1].corruptions) - {"nhs_missing"}]
    plain = [p for p in same if not (p[0].corruptions | p[1].corruptions) - {"nhs_missing"}]
    same_sample = rng.sample(corrupted, min(700, len(corrupted)))
    same_sample += rng.sample(plain, 1000 - len(same_sample))

    by_key: dict[tuple[str, str], list[AgencyRecord]] = defaultdict(list)
    for record in records:
        for key in blocking_keys(match_row(record)):
            by_key[key].append(record)
    blocked_apart = {
        (a.record_id, b.record_id): (a, b)
        for bucket in by_key.values()
        for a, b in combinations(bucket[:20], 2)
        if a.child_id != b.child_id
    }
    hard = rng.sample(sorted(blocked_apart.values(), key=lambda p: p[0].record_id), 500)
    at_random: list[tuple[AgencyRecord, AgencyRecord]] = []
    while len(at_random) < 500:
        a, b = rng.sample(records, 2)
        if a.child_id != b.child_id:
            at_random.append((a, b))
    return same_sample + hard + at_random


def _chunks(pairs: Sequence[tuple[Row, Row]], size: int) -> Iterator[Sequence[tuple[Row, Row]]]:
    for start in range(0, len(pairs), size):
        yield pairs[start : start + size]


def test_the_population_sample_scores_as_splink_scores_it(
    splink: SplinkScorer, people: tuple[AgencyRecord, ...]
) -> None:
    tf = TermFrequencies.from_rows(match_row(r) for r in people)
    sample = [(match_row(a), match_row(b)) for a, b in _sample_pairs(people)]
    assert len(sample) == 2000
    agreement = Agreement()
    # score_pairs scores a cartesian product: 25 sampled pairs a call, and the other 600
    # left x right combinations of each call are compared too (random different children).
    for chunk in _chunks(sample, 25):
        _assert_same_as_splink(splink, [a for a, _ in chunk], [b for _, b in chunk], tf, agreement)
    assert agreement.pairs >= 2000 * 25
    # Not only within 1e-9: the same float operations in the same order give the same bits.
    assert agreement.exact_weights == agreement.pairs, agreement


def test_the_sample_reaches_every_level_splink_distinguishes(
    people: tuple[AgencyRecord, ...],
) -> None:
    """The parity above means something only if the sample exercises the levels."""
    tf = TermFrequencies.from_rows(match_row(r) for r in people)
    reached: dict[str, set[str]] = defaultdict(set)
    for a, b in _sample_pairs(people):
        for name, label in MODEL.score(match_row(a), match_row(b), tf).levels.items():
            reached[name].add(label)
    for comparison in SAVED["comparisons"]:
        name = comparison["output_column_name"]
        labels = {lv["label_for_charts"] for lv in comparison["comparison_levels"]}
        assert labels == reached[name], (name, labels - reached[name])


# -- property: any two records, any term frequencies ------------------------------------------

_GIVEN = st.sampled_from(
    [
        "Alexander",
        "Alex",
        "Alexandra",
        "Alexnader",
        "Xander",
        "Sam",
        "Samuel",
        "Samantha",
        "Rosalind",
        "Rosalynd",
        "Rose",
        "Martha",
        "Marhta",
        "Dwayne",
        "Duane",
        "Ann",
        "Anne",
    ]
) | st.text(alphabet="abrnO' -", min_size=0, max_size=9)
_FAMILY = st.sampled_from(
    [
        "Quillfeather",
        "Quilfeather",
        "Oakley-Fernhurst",
        "Oakley",
        "Fernhurst",
        "Fern Hurst",
        "Dixon",
        "Dickson",
        "Quill",
    ]
) | st.text(alphabet="abrnq- ", min_size=0, max_size=9)
_POSTCODE = st.sampled_from(["ZZ3 4AB", "ZZ3 9QT", "ZZ17 2QT", "zz34ab", "ZZ1 7AB"])
_NHS = st.sampled_from(["999 000 0018", "9990000026", "999 000 0019"])  # last: bad check digit


@st.composite
def _date_pair(draw: st.DrawFn) -> tuple[dt.date | None, dt.date | None]:
    first = draw(st.dates(dt.date(2005, 1, 1), dt.date(2025, 12, 31)))
    variants = [first, first + dt.timedelta(days=1)]
    if first.day <= 12:
        variants.append(first.replace(month=first.day, day=first.month))
    if (first.month, first.day) != (2, 29):
        variants += [first.replace(year=first.year - 1), first.replace(year=first.year + 1)]
    variants.append(draw(st.dates(dt.date(2005, 1, 1), dt.date(2025, 12, 31))))
    second = draw(st.sampled_from(variants))
    return draw(st.none() | st.just(first)), draw(st.none() | st.just(second))


@st.composite
def _record_pair(draw: st.DrawFn, n: int) -> tuple[Record, Record]:
    def field(strategy: st.SearchStrategy[str]) -> tuple[str | None, str | None]:
        first = draw(st.none() | strategy)
        return first, draw(st.none() | st.just(first) | strategy)

    given = field(_GIVEN)
    family = field(_FAMILY)
    dob = draw(_date_pair())
    sex = field(st.sampled_from(["F", "M"]))
    postcode = field(_POSTCODE)
    nhs = field(_NHS)
    upn = field(st.sampled_from(["Z000000000001", "z000000000001 ", "Z000000000002"]))
    la_id = field(st.sampled_from(["LA000001", "LA000002"]))

    def record(i: int, side: str) -> Record:
        return Record(
            record_id=f"{side}{n}",
            given_name=given[i],
            family_name=family[i],
            sex=sex[i],
            date_of_birth=dob[i],
            postcode=postcode[i],
            nhs_number=nhs[i],
            upn=upn[i],
            la_child_id=la_id[i],
        )

    return record(0, "l"), record(1, "r")


@st.composite
def _batch(draw: st.DrawFn) -> tuple[list[Row], list[Row], list[Row]]:
    pairs = [draw(_record_pair(n)) for n in range(draw(st.integers(1, 4)))]
    lefts = [match_row(a) for a, _ in pairs]
    rights = [match_row(b) for _, b in pairs]
    # Term frequencies over the batch and some other rows, so values have varied shares.
    others = [match_row(r) for pair in draw(st.lists(_record_pair(99), max_size=4)) for r in pair]
    return lefts, rights, others


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batch())
def test_any_two_records_score_as_splink_scores_them(
    splink: SplinkScorer, batch: tuple[list[Row], list[Row], list[Row]]
) -> None:
    lefts, rights, others = batch
    tf = TermFrequencies.from_rows([*lefts, *rights, *others])
    _assert_same_as_splink(splink, lefts, rights, tf)


def test_a_nickname_and_an_old_postcode_still_score_as_splink(
    splink: SplinkScorer, people: tuple[AgencyRecord, ...]
) -> None:
    health = match_row(
        Record(
            "health-1",
            "Alexander",
            "Quillfeather",
            "M",
            dt.date(2014, 3, 21),
            "ZZ3 4AB",
            "999 000 0018",
        )
    )
    police = match_row(
        Record("police-1", "Alex", "QUILLFEATHER", "M", dt.date(2014, 3, 21), "ZZ17 2QT")
    )
    # Frequencies from a population: over two rows every name would be everyone's name.
    tf = TermFrequencies.from_rows([*(match_row(r) for r in people), health, police])
    _assert_same_as_splink(splink, [health], [police], tf)
    score = MODEL.score(health, police, tf)
    assert score.levels["given_name"] == "nickname"
    assert score.levels["postcode"] == "All other comparisons"
    assert score.match_probability > 0.95


# -- the string functions, against DuckDB directly --------------------------------------------

_WORD = st.text(alphabet="abcdeé字😀", max_size=12) | st.text(alphabet="ab", max_size=70)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_WORD, _WORD), min_size=1, max_size=50))
def test_jaro_winkler_and_one_edit_are_duckdbs(pairs: list[tuple[str, str]]) -> None:
    db = duckdb.connect()
    db.register("pairs", pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]}))
    query = "SELECT jaro_winkler_similarity(a, b), levenshtein(a, b) FROM pairs"
    found = db.execute(query).fetchall()
    for (a, b), (jw, distance) in zip(pairs, found, strict=True):
        assert jaro_winkler_similarity(a, b) == jw, (a, b)
        assert within_one_edit(a, b) == (distance <= 1), (a, b)


def test_jaro_winkler_is_fused_like_duckdbs_where_rounding_twice_differs() -> None:
    # Jaro 0.7833...; 0.7833 + 0.3 * (1 - 0.7833) rounds to 0.8049999999999999 when the
    # product is rounded first, and to DuckDB's 0.805 when fused.
    assert jaro_winkler_similarity("deace", "daebe") == 0.805


# -- blocking --------------------------------------------------------------------------------


def test_blocking_keys_pair_exactly_the_records_splinks_rules_pair() -> None:
    rows = [match_row(r) for r in population(children=300, seed=21).records]
    rows.append(match_row(Record("twin-a", "Ann", "Oakley-Fernhurst", "F", dt.date(2012, 5, 1))))
    rows.append(match_row(Record("twin-b", "Anne", "Oakley", "F", dt.date(2012, 5, 1))))
    rows.append(match_row(Record("short-name", "Ty", "Ox", None, dt.date(2013, 1, 1))))
    rows.append(match_row(Record("short-name-2", "Tyler", "Ox", None, dt.date(2013, 2, 1))))
    linker = Linker(
        DuckDBAPI().register(pa.Table.from_pylist(rows, schema=_ROW_SCHEMA)),
        str(MODEL_FILE),
        log_level=logging.WARNING,
    )
    blocked = linker.inference.compute_blocked_pairs_for_predict().as_duckdbpyrelation()
    splink_pairs = {frozenset(p) for p in blocked.select("join_key_l, join_key_r").fetchall()}

    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        for key in blocking_keys(row):
            holders[key].append(row["record_id"])
    online_pairs = {frozenset(pair) for ids in holders.values() for pair in combinations(ids, 2)}
    assert len(splink_pairs) > 500
    assert online_pairs == splink_pairs


def test_blocking_keys_need_every_part_of_a_rule() -> None:
    row = match_row(Record("x", "Alex", "Quillfeather", None, None, None))
    assert blocking_keys(row) == {
        ("given_name_formal+family_name", '["alexander", "quillfeather"]')
    }
    assert blocking_keys(match_row(Record("y"))) == frozenset()


# -- the load check ----------------------------------------------------------------------------


def _saved_with(change: Any) -> dict[str, Any]:
    model: dict[str, Any] = copy.deepcopy(SAVED)
    change(model)
    return model


def _comparison(model: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in model["comparisons"] if c["output_column_name"] == name)


def test_the_shipped_model_loads_from_its_file(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(SAVED))
    assert TrainedModel.load(path) == MODEL


@pytest.mark.parametrize(
    ("comparison", "change"),
    [
        (
            "given_name",
            lambda m: _comparison(m, "given_name")["comparison_levels"][3].update(
                sql_condition='jaro_winkler_similarity("given_name_l", "given_name_r") >= 0.92',
                label_for_charts="Jaro-Winkler distance of given_name >= 0.92",
            ),
        ),
        (
            "date_of_birth",
            lambda m: _comparison(m, "date_of_birth")["comparison_levels"].pop(3),
        ),
        (
            "postcode",
            lambda m: _comparison(m, "postcode")["comparison_levels"][2].update(
                label_for_charts="same district"
            ),
        ),
        (
            "family_name",
            lambda m: _comparison(m, "family_name")["comparison_levels"][1].pop("u_probability"),
        ),
        ("comparisons", lambda m: m["comparisons"].append(copy.deepcopy(m["comparisons"][3]))),
        (
            "blocking_rules_to_generate_predictions",
            lambda m: m["blocking_rules_to_generate_predictions"].pop(),
        ),
    ],
)
def test_a_model_whose_comparisons_changed_is_refused_naming_the_comparison(
    comparison: str, change: Any
) -> None:
    with pytest.raises(ModelMismatch) as refused:
        TrainedModel.from_json(_saved_with(change))
    assert refused.value.comparison == comparison
    assert comparison in str(refused.value)


# -- term frequencies ----------------------------------------------------------------------------


def test_term_frequencies_are_shares_of_non_null_values_and_grow_one_row_at_a_time() -> None:
    rows: list[Row] = [
        {"given_name": "alex", "family_name": "oakley"},
        {"given_name": "alex", "family_name": None},
        {"given_name": "sam", "family_name": "oakley"},
        {"given_name": None, "family_name": "dixon"},
    ]
    tf = TermFrequencies.from_rows(rows[:3])
    assert tf.frequency("given_name", "alex") == 2 / 3
    assert tf.frequency("family_name", "oakley") == 1.0
    assert tf.frequency("family_name", "dixon") is None
    assert tf.frequency("given_name", None) is None
    tf.add(rows[3])
    assert tf.frequency("given_name", "alex") == 2 / 3  # a null name is not counted
    assert tf.frequency("family_name", "oakley") == 2 / 3
    assert tf.frequency("family_name", "dixon") == 1 / 3
