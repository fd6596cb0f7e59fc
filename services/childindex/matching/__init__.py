"""Probabilistic record linkage for the child index (Splink, DuckDB backend).

- `records`: what the matcher reads from a record (the `IdentifiedRecord` port) and how it is
  normalised into a row; pure.
- `model`: the Splink settings and training (`train_model`, which also writes the training
  population's name counts, name_frequencies.json).
- `thresholds`: the match-probability thresholds (data: thresholds.json).
- `online`: the trained model scored one pair at a time in plain Python, bit-equal to Splink
  (the child index's online matching); blocking keys; term frequencies.
- `guards`: what the model may not decide alone (conflicting given names: twins, a sibling's
  NHS number).
- `scoring`: link a batch of records: the deterministic NHS-number rule, then Splink's
  predictions clustered at the thresholds, with the pairs for human review.
- `quality`: pairwise precision / recall and B-cubed F1 against ground truth; pure.
Splink and DuckDB are imported only by `model` and `scoring`: the running index never loads
them.
"""
