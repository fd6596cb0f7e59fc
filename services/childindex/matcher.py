"""The trained model as the store's RecordScorer: blocking keys, the match probability of two
records with term frequencies, and learning each new record's names.

Term frequencies start from the name counts of the population the model was trained on
(matching/name_frequencies.json, written by `train_model`) and grow with every record the
index learns: a new index would otherwise see every family name as common (two records, one
name: a frequency of one half) and send a nickname-and-moved-house pair to review that a
mature index links."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.childindex.matching.online import (
    MODEL_FILE,
    TermFrequencies,
    TrainedModel,
    blocking_keys,
)

NAME_FREQUENCIES_FILE = MODEL_FILE.with_name("name_frequencies.json")

__all__ = ["NAME_FREQUENCIES_FILE", "OnlineMatcher"]


class OnlineMatcher:
    def __init__(self, model: TrainedModel, term_frequencies: TermFrequencies) -> None:
        self._model = model
        self._term_frequencies = term_frequencies

    @classmethod
    def load(
        cls, model_path: Path = MODEL_FILE, name_frequencies: Path = NAME_FREQUENCIES_FILE
    ) -> OnlineMatcher:
        counts = json.loads(name_frequencies.read_text()) if name_frequencies.exists() else {}
        return cls(TrainedModel.load(model_path), TermFrequencies.from_counts(counts))

    def blocking_keys(self, row: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
        return blocking_keys(row)

    def probability(self, row: Mapping[str, Any], other: Mapping[str, Any]) -> float:
        return self._model.score(row, other, self._term_frequencies).match_probability

    def learn(self, row: Mapping[str, Any]) -> None:
        self._term_frequencies.add(row)
