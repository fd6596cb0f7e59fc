"""Linkage quality against ground truth. Pure.

- Pairwise precision: of the record pairs put in one cluster, the share that are one child;
  pairwise recall: of the record pairs that are one child, the share put in one cluster
  (Christen, "Data Matching", Springer 2012, section 7.3). Large clusters weigh quadratically.
- B-cubed precision / recall / F1 (Bagga and Baldwin, 1998; Amigo et al., "A comparison of
  extrinsic clustering evaluation metrics", Information Retrieval 12, 2009): per record, the
  share of its predicted cluster that is its true child (precision) and the share of its true
  child's records in its predicted cluster (recall), averaged over records; F1 is their
  harmonic mean. This is the "cluster F1" the benchmark reports: each record counts once,
  so a child with thirty missing-episode records does not drown the rest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LinkageQuality", "linkage_quality"]


@dataclass(frozen=True, slots=True)
class LinkageQuality:
    pairwise_precision: float
    pairwise_recall: float
    bcubed_precision: float
    bcubed_recall: float

    @property
    def pairwise_f1(self) -> float:
        return _harmonic(self.pairwise_precision, self.pairwise_recall)

    @property
    def cluster_f1(self) -> float:
        return _harmonic(self.bcubed_precision, self.bcubed_recall)


def linkage_quality(*, predicted: Mapping[str, int], truth: Mapping[str, int]) -> LinkageQuality:
    """predicted and truth map every record id to a cluster label (same keys)."""
    if predicted.keys() != truth.keys():
        raise ValueError("predicted and truth must label the same records")
    both = Counter((predicted[r], truth[r]) for r in predicted)
    pred_sizes = Counter(predicted.values())
    true_sizes = Counter(truth.values())

    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    true_positive = sum(pairs(n) for n in both.values())
    predicted_pairs = sum(pairs(n) for n in pred_sizes.values())
    true_pairs = sum(pairs(n) for n in true_sizes.values())
    records = len(predicted)
    # B-cubed: a record in cell (p, t) of size n sees n/|p| precision and n/|t| recall.
    bcubed_p = sum(n * n / pred_sizes[p] for (p, _), n in both.items()) / records if records else 1
    bcubed_r = sum(n * n / true_sizes[t] for (_, t), n in both.items()) / records if records else 1
    return LinkageQuality(
        pairwise_precision=true_positive / predicted_pairs if predicted_pairs else 1.0,
        pairwise_recall=true_positive / true_pairs if true_pairs else 1.0,
        bcubed_precision=bcubed_p,
        bcubed_recall=bcubed_r,
    )


def _harmonic(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b else 0.0
