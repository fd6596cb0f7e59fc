"""Probabilistic record linkage for the child index (Splink, DuckDB backend).

- `records`: what the matcher reads from a record (the `IdentifiedRecord` port) and how it is
  normalised into a row; pure.
- `model`: the Splink settings, training (`train_model`) and the match thresholds (data).
- `scoring`: link a batch of records: the deterministic NHS-number rule, then Splink's
  predictions clustered at the thresholds, with the pairs for human review.
- `quality`: pairwise precision / recall and B-cubed F1 against ground truth; pure.
Splink and DuckDB are imported only by `model` and `scoring`.
"""
