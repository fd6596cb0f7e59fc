"""The trained model as the store's RecordScorer: blocking keys, the match probability of two
records with the index's own term frequencies, and learning each new record's names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.childindex.matching.model import MODEL_FILE
from services.childindex.matching.online import TermFrequencies, TrainedModel, blocking_keys

__all__ = ["OnlineMatcher"]


class OnlineMatcher:
    def __init__(self, model: TrainedModel, term_frequencies: TermFrequencies) -> None:
        self._model = model
        self._term_frequencies = term_frequencies

    @classmethod
    def load(cls, model_path: Path = MODEL_FILE) -> OnlineMatcher:
        return cls(TrainedModel.load(model_path), TermFrequencies.from_rows([]))

    def blocking_keys(self, row: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
        return blocking_keys(row)

    def probability(self, row: Mapping[str, Any], other: Mapping[str, Any]) -> float:
        return self._model.score(row, other, self._term_frequencies).match_probability

    def learn(self, row: Mapping[str, Any]) -> None:
        self._term_frequencies.add(row)
