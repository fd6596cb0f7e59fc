"""The Splink model: comparisons, blocking rules, training, and the thresholds (data).

Fellegi-Sunter as Splink implements it: each comparison has levels; each level an m (share of
true matches at that level) and u (share of non-matches); a pair's match weight is the sum of
log2(m/u) over its levels plus the prior. Training uses no ground truth:
- the prior from two near-certain deterministic rules with an assumed recall;
- u by random sampling of record pairs (nearly all random pairs are different children);
- m by expectation maximisation on blocked pairs, two sessions so that each comparison is
  estimated in a session whose blocking rule does not use it.
The trained model is data (`model.json` beside this file, rewritten by `train_model`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.comparison_level_creator import ComparisonLevelCreator

from services.childindex.matching.online import TermFrequencies
from services.childindex.matching.records import IdentifiedRecord, match_row
from services.childindex.matching.thresholds import THRESHOLDS_FILE, Thresholds

__all__ = [
    "MODEL_FILE",
    "NAME_FREQUENCIES_NAME",
    "THRESHOLDS_FILE",
    "Thresholds",
    "settings",
    "train_model",
    "write_name_frequencies",
]

MODEL_FILE = Path(__file__).with_name("model.json")
NAME_FREQUENCIES_NAME = "name_frequencies.json"  # beside the model it was trained with


def _null_level(column: str) -> ComparisonLevelCreator:
    return cll.CustomLevel(f"{column}_l IS NULL OR {column}_r IS NULL").configure(
        is_null_level=True
    )


def _given_name() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="given_name",
        comparison_levels=[
            _null_level("given_name"),
            cll.ExactMatchLevel("given_name", term_frequency_adjustments=True),
            cll.CustomLevel(
                "given_name_formal_l = given_name_formal_r", label_for_charts="nickname"
            ),
            cll.JaroWinklerLevel("given_name", 0.9),
            cll.JaroWinklerLevel("given_name", 0.8),
            cll.CustomLevel(
                "substr(given_name_l, 1, 1) = substr(given_name_r, 1, 1)",
                label_for_charts="initial",
            ),
            cll.ElseLevel(),
        ],
    )


def _family_name() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="family_name",
        comparison_levels=[
            _null_level("family_name"),
            cll.ExactMatchLevel("family_name", term_frequency_adjustments=True),
            cll.CustomLevel(
                "list_has_any(family_name_parts_l, family_name_parts_r)",
                label_for_charts="double-barrel part",
            ),
            cll.JaroWinklerLevel("family_name", 0.9),
            cll.JaroWinklerLevel("family_name", 0.8),
            cll.ElseLevel(),
        ],
    )


def _date_of_birth() -> cl.CustomComparison:
    # ISO strings: yyyy-mm-dd, so substr(6, 2) is the month and substr(9, 2) the day.
    swapped = (
        "substr(date_of_birth_l, 1, 4) = substr(date_of_birth_r, 1, 4)"
        " AND substr(date_of_birth_l, 6, 2) = substr(date_of_birth_r, 9, 2)"
        " AND substr(date_of_birth_l, 9, 2) = substr(date_of_birth_r, 6, 2)"
    )
    year_off_by_one = (
        "substr(date_of_birth_l, 6) = substr(date_of_birth_r, 6)"
        " AND abs(birth_year_l - birth_year_r) = 1"
    )
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_levels=[
            _null_level("date_of_birth"),
            cll.ExactMatchLevel("date_of_birth"),
            cll.CustomLevel(swapped, label_for_charts="day and month swapped"),
            cll.CustomLevel(year_off_by_one, label_for_charts="year off by one"),
            cll.LevenshteinLevel("date_of_birth", 1),
            cll.ElseLevel(),
        ],
    )


def _postcode() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="postcode",
        comparison_levels=[
            _null_level("postcode"),
            cll.ExactMatchLevel("postcode"),
            cll.ExactMatchLevel("postcode_district"),
            cll.ElseLevel(),
        ],
    )


def settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[
            _given_name(),
            _family_name(),
            _date_of_birth(),
            cl.ExactMatch("sex"),
            _postcode(),
            cl.ExactMatch("nhs_number"),
            cl.ExactMatch("upn"),
            cl.ExactMatch("la_child_id"),
        ],
        # Candidate pairs: a pair is scored if any rule puts the two records together. Each
        # rule survives a different corruption (a wrong date of birth, a nickname, a typo in
        # the family name, a missing NHS number).
        blocking_rules_to_generate_predictions=[
            block_on("nhs_number"),
            block_on("date_of_birth"),
            block_on("given_name_formal", "family_name"),
            block_on("substr(family_name, 1, 3)", "birth_year"),
            block_on("upn"),
            block_on("la_child_id"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def linker_for(rows: list[dict[str, Any]], model: SettingsCreator | Path) -> Linker:
    db_api = DuckDBAPI()
    table = db_api.register(rows)
    source = model if isinstance(model, SettingsCreator) else str(model)
    return Linker(table, source, log_level=logging.WARNING)


def train_model(records: Iterable[IdentifiedRecord], out_path: Path = MODEL_FILE) -> None:
    """Train on the records (no ground truth used) and save the model JSON to out_path."""
    rows = [match_row(r) for r in records]
    linker = linker_for(rows, settings())
    training = linker.training
    training.estimate_probability_two_random_records_match(
        [
            block_on("nhs_number"),
            block_on("given_name", "family_name", "date_of_birth", "postcode"),
        ],
        recall=0.8,
    )
    training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name_formal", "family_name")
    )
    model = linker.misc.save_model_to_json()
    _fill_unsampled_u(model, rows)
    out_path.write_text(json.dumps(model, indent=2) + "\n")
    write_name_frequencies(rows, out_path.with_name(NAME_FREQUENCIES_NAME))


def write_name_frequencies(rows: Iterable[dict[str, Any]], path: Path) -> None:
    """The training population's name counts, which the online index starts from
    (services/childindex/matcher.py)."""
    counts = TermFrequencies.from_rows(rows).counts()
    path.write_text(json.dumps(counts, indent=1, sort_keys=True) + "\n")


def _fill_unsampled_u(model: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """An identifier unique to one child (an LA child id) may agree in no randomly sampled
    pair, leaving its exact level without a u. Two different children share it by chance
    about as often as two random values are equal: 1 / (number of distinct values)."""
    for comparison in model["comparisons"]:
        column = comparison["output_column_name"]
        distinct = {row[column] for row in rows if row.get(column) is not None}
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level") and level.get("u_probability") is None:
                level["u_probability"] = 1 / max(len(distinct), 1)
