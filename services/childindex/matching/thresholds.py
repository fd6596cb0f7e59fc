"""The match-probability thresholds (data: thresholds.json beside this file, with why)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["THRESHOLDS_FILE", "Thresholds"]

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.json")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """match_probability >= same_child: linked; review <= p < same_child: a person decides;
    below review: different children. Values and why: thresholds.json."""

    same_child: float
    review: float

    @classmethod
    def load(cls, path: Path = THRESHOLDS_FILE) -> Thresholds:
        data = json.loads(path.read_text())
        return cls(same_child=float(data["same_child"]), review=float(data["review"]))
