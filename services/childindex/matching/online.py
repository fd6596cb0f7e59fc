"""The trained Splink model, scored online in plain Python: one new record against its
candidates in microseconds, with the weights Splink would give (no DuckDB, no Splink).

Splink scores a pair by running SQL; `linker.inference.score_pairs` costs ~50 ms a call, too
slow for an index that resolves every adapter record. Here each comparison level of model.py
has a Python predicate written beside the SQL condition it mirrors, and the arithmetic follows
Splink 5 (splink/internals): Fellegi-Sunter in log2 space,

    match_weight = log2(prior / (1 - prior))
                   + sum over comparisons of ( log2(m / u) of the pair's level
                                               + tf adjustment of that level )
    match_probability = 1 / (1 + 2^-match_weight)   (2^w / (1 + 2^w) when w < 0)

(predict.py `_combine_prior_and_mws`; comparison_level.py `_match_weight`, m and u clamped at
1e-300), added in Splink's order so the float result is the same. The term-frequency
adjustment of an exact name level (comparison_level.py `_tf_adjustment_sql`) replaces the
level's average u by the frequency of the value the two records share:

    tf adjustment = tf_adjustment_weight * (log2(u of the exact level) - log2(max(tf_l, tf_r,
                    tf_minimum_u_value)))      (0 when neither side has a frequency)

with tf = count of the value / count of non-null values (term_frequencies.py).

The predicates are only right for the comparisons they were written for: `TrainedModel.load`
checks every comparison's level conditions and labels in model.json against them and raises
`ModelMismatch` naming the comparison, so a retrained model with changed comparisons fails
loudly instead of scoring wrongly. Pure: no I/O outside `TrainedModel.load`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from services.childindex.errors import ChildIndexError

__all__ = [
    "MODEL_FILE",
    "TF_COLUMNS",
    "ComparisonOutcome",
    "ModelMismatch",
    "PairScore",
    "TermFrequencies",
    "TrainedModel",
    "blocking_keys",
    "jaro_winkler_similarity",
    "within_one_edit",
]

# model.py's MODEL_FILE, named again here so that this module does not import Splink.
MODEL_FILE = Path(__file__).with_name("model.json")

# The columns whose exact levels are term-frequency adjusted in model.py.
TF_COLUMNS: tuple[str, ...] = ("given_name", "family_name")

Row = Mapping[str, Any]
Predicate = Callable[[Row, Row], bool]

# Splink's floor for m and u before log2 (comparison_level.py M_U_CLAMP_MIN) and the m / u it
# uses for a level training never saw (constants.py LEVEL_NOT_OBSERVED_TEXT -> 1e-6).
_M_U_CLAMP_MIN = 1e-300
_LEVEL_NOT_OBSERVED = "level not observed in training dataset"
_LEVEL_NOT_OBSERVED_PROBABILITY = 1e-6


class ModelMismatch(ChildIndexError):
    """model.json is not the model the online predicates were written for (a comparison, its
    levels, or the blocking rules changed, or a level is untrained). Scoring it would give
    weights Splink would not: update online.py beside model.py, or retrain with model.py's
    comparisons."""

    def __init__(self, comparison: str, reason: str) -> None:
        self.comparison = comparison
        self.reason = reason
        super().__init__(
            f"model.json {comparison!r}: {reason}. The online scorer "
            "(services/childindex/matching/online.py) mirrors model.py's comparisons level by "
            "level; change its predicates with model.py, or retrain with the same comparisons"
        )


# -- string similarity, exactly as DuckDB computes it ------------------------------------


def _jaro(p: str, t: str) -> float:
    """Jaro similarity (Jaro, JASA 84(406), 1989; Winkler, "String comparator metrics", 1990)
    as DuckDB's third_party/jaro_winkler computes it (rapidfuzz's algorithm, over code points):
    a character of t matches the first unmatched equal character of p within
    max(len) // 2 - 1 positions; transpositions are half the matched characters out of order;
    the three ratios are added in this order and divided by 3."""
    p_len, t_len = len(p), len(t)
    if not p_len or not t_len:
        return 0.0
    if p_len == 1 and t_len == 1:
        return 1.0 if p == t else 0.0
    bound = max(p_len, t_len) // 2 - 1
    taken = [False] * p_len
    t_matched: list[str] = []
    for j, ch in enumerate(t):
        for k in range(max(0, j - bound), min(p_len, j + bound + 1)):
            if not taken[k] and p[k] == ch:
                taken[k] = True
                t_matched.append(ch)
                break
    common = len(t_matched)
    if not common:
        return 0.0
    p_matched = [ch for ch, was_taken in zip(p, taken, strict=True) if was_taken]
    transpositions = sum(a != b for a, b in zip(p_matched, t_matched, strict=True)) // 2
    sim = 0.0
    sim += common / p_len
    sim += common / t_len
    sim += (common - transpositions) / common
    return sim / 3.0


def _fused_multiply_add(x: float, y: float, z: float) -> float:
    """x * y + z rounded once. DuckDB's build contracts `sim + prefix * 0.1 * (1 - sim)` into
    one fused multiply-add; rounding the product first differs in the last bit about one time
    in 250 and can move a pair across a 0.9 threshold. Exact rationals, then one correctly
    rounded division (math.fma arrives only in Python 3.13)."""
    return float(Fraction(x) * Fraction(y) + Fraction(z))


@lru_cache(maxsize=1 << 16)
def jaro_winkler_similarity(a: str, b: str) -> float:
    """DuckDB's `jaro_winkler_similarity(a, b)` bit for bit: Jaro plus 0.1 per character of
    common prefix (at most 4) times the remaining distance, only above a Jaro of 0.7.
    Cached: names repeat, and each name comparison asks at two thresholds."""
    sim = _jaro(a, b)
    if sim <= 0.7:
        return sim
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return _fused_multiply_add(prefix * 0.1, 1.0 - sim, sim) if prefix else sim


def within_one_edit(a: str, b: str) -> bool:
    """`levenshtein(a, b) <= 1` (over code points, as DuckDB): equal, or one substitution, or
    one insertion or deletion (Levenshtein, Soviet Physics Doklady 10(8), 1966). Linear, so no
    distance matrix is built for the one threshold the model uses."""
    if a == b:
        return True
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


# -- the comparisons of model.py, level by level ------------------------------------------
# Each level: the SQL condition and chart label Splink saved in model.json for it, and the
# predicate that decides it. A SQL comparison with a NULL operand is not true, so a predicate
# is False whenever a value it reads is None; the null level catches the compared column.


@dataclass(frozen=True, slots=True)
class _Level:
    sql_condition: str
    label: str
    applies: Predicate
    is_null: bool = False
    exact_match_on: str | None = None  # the level whose u a tf adjustment on this column uses


@dataclass(frozen=True, slots=True)
class _Comparison:
    name: str
    levels: tuple[_Level, ...]


def _both(left: Row, right: Row, col: str) -> tuple[Any, Any] | None:
    a, b = left.get(col), right.get(col)
    return None if a is None or b is None else (a, b)


def _custom_null(col: str) -> _Level:
    sql = f"{col}_l IS NULL OR {col}_r IS NULL"
    return _Level(
        sql, sql, lambda left, right: left.get(col) is None or right.get(col) is None, True
    )


def _exact_match_null(col: str) -> _Level:
    return _Level(
        f'"{col}_l" IS NULL OR "{col}_r" IS NULL',
        f"{col} is NULL",
        lambda left, right: left.get(col) is None or right.get(col) is None,
        is_null=True,
    )


def _exact(col: str) -> _Level:
    def applies(left: Row, right: Row) -> bool:
        a = left.get(col)
        return a is not None and a == right.get(col)

    return _Level(f'"{col}_l" = "{col}_r"', f"Exact match on {col}", applies, exact_match_on=col)


def _equal(col: str, label: str) -> _Level:
    """A CustomLevel `col_l = col_r` (unquoted: not Splink's exact-match form)."""

    def applies(left: Row, right: Row) -> bool:
        a = left.get(col)
        return a is not None and a == right.get(col)

    return _Level(f"{col}_l = {col}_r", label, applies)


def _jaro_winkler(col: str, threshold: float) -> _Level:
    def applies(left: Row, right: Row) -> bool:
        a, b = left.get(col), right.get(col)
        return a is not None and b is not None and jaro_winkler_similarity(a, b) >= threshold

    return _Level(
        f'jaro_winkler_similarity("{col}_l", "{col}_r") >= {threshold}',
        f"Jaro-Winkler distance of {col} >= {threshold}",
        applies,
    )


_ELSE = _Level("ELSE", "All other comparisons", lambda left, right: True)


def _first_letter(left: Row, right: Row) -> bool:
    # substr(x, 1, 1): the first code point ('' for an empty string, as in DuckDB).
    both = _both(left, right, "given_name")
    return both is not None and both[0][:1] == both[1][:1]


def _shares_family_name_part(left: Row, right: Row) -> bool:
    # list_has_any(l, r): some non-null element of one list is in the other.
    both = _both(left, right, "family_name_parts")
    return both is not None and any(p is not None and p in both[1] for p in both[0])


def _day_and_month_swapped(left: Row, right: Row) -> bool:
    # ISO yyyy-mm-dd: [0:4] year, [5:7] month, [8:10] day (substr 1-based, as in model.py).
    both = _both(left, right, "date_of_birth")
    if both is None:
        return False
    a, b = both
    return bool(a[0:4] == b[0:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7])


def _year_off_by_one(left: Row, right: Row) -> bool:
    dobs, years = _both(left, right, "date_of_birth"), _both(left, right, "birth_year")
    if dobs is None or years is None:
        return False
    return bool(dobs[0][5:] == dobs[1][5:] and abs(years[0] - years[1]) == 1)


def _date_one_edit(left: Row, right: Row) -> bool:
    both = _both(left, right, "date_of_birth")
    return both is not None and within_one_edit(*both)


_DOB_SWAPPED_SQL = (
    "substr(date_of_birth_l, 1, 4) = substr(date_of_birth_r, 1, 4)"
    " AND substr(date_of_birth_l, 6, 2) = substr(date_of_birth_r, 9, 2)"
    " AND substr(date_of_birth_l, 9, 2) = substr(date_of_birth_r, 6, 2)"
)
_DOB_YEAR_OFF_SQL = (
    "substr(date_of_birth_l, 6) = substr(date_of_birth_r, 6)"
    " AND abs(birth_year_l - birth_year_r) = 1"
)


def _exact_match_comparison(col: str) -> _Comparison:
    """cl.ExactMatch(col)."""
    return _Comparison(col, (_exact_match_null(col), _exact(col), _ELSE))


COMPARISONS: tuple[_Comparison, ...] = (
    _Comparison(
        "given_name",
        (
            _custom_null("given_name"),
            _exact("given_name"),
            _equal("given_name_formal", "nickname"),
            _jaro_winkler("given_name", 0.9),
            _jaro_winkler("given_name", 0.8),
            _Level(
                "substr(given_name_l, 1, 1) = substr(given_name_r, 1, 1)",
                "initial",
                _first_letter,
            ),
            _ELSE,
        ),
    ),
    _Comparison(
        "family_name",
        (
            _custom_null("family_name"),
            _exact("family_name"),
            _Level(
                "list_has_any(family_name_parts_l, family_name_parts_r)",
                "double-barrel part",
                _shares_family_name_part,
            ),
            _jaro_winkler("family_name", 0.9),
            _jaro_winkler("family_name", 0.8),
            _ELSE,
        ),
    ),
    _Comparison(
        "date_of_birth",
        (
            _custom_null("date_of_birth"),
            _exact("date_of_birth"),
            _Level(_DOB_SWAPPED_SQL, "day and month swapped", _day_and_month_swapped),
            _Level(_DOB_YEAR_OFF_SQL, "year off by one", _year_off_by_one),
            _Level(
                'levenshtein("date_of_birth_l", "date_of_birth_r") <= 1',
                "Levenshtein distance of date_of_birth <= 1",
                _date_one_edit,
            ),
            _ELSE,
        ),
    ),
    _exact_match_comparison("sex"),
    _Comparison(
        "postcode",
        (
            _custom_null("postcode"),
            _exact("postcode"),
            _exact("postcode_district"),
            _ELSE,
        ),
    ),
    _exact_match_comparison("nhs_number"),
    _exact_match_comparison("upn"),
    _exact_match_comparison("la_child_id"),
)


# -- blocking: which stored records a new record is scored against --------------------------


@dataclass(frozen=True, slots=True)
class _BlockingRule:
    name: str
    sql: str  # as Splink saved it in model.json
    key: Callable[[Row], str | None]  # the value two rows share when the rule pairs them


def _column_key(col: str) -> Callable[[Row], str | None]:
    def key(row: Row) -> str | None:
        value = row.get(col)
        return None if value is None else str(value)

    return key


def _composite_key(*parts: Callable[[Row], Any]) -> Callable[[Row], str | None]:
    def key(row: Row) -> str | None:
        values = [part(row) for part in parts]
        # JSON keeps the parts apart whatever they contain ("ab" + "c" is not "a" + "bc").
        return None if any(v is None for v in values) else json.dumps(values)

    return key


def _family_name_prefix(row: Row) -> str | None:
    family = row.get("family_name")
    return None if family is None else str(family)[:3]  # SUBSTRING(family_name, 1, 3)


BLOCKING_RULES: tuple[_BlockingRule, ...] = (
    _BlockingRule("nhs_number", 'l."nhs_number" = r."nhs_number"', _column_key("nhs_number")),
    _BlockingRule(
        "date_of_birth", 'l."date_of_birth" = r."date_of_birth"', _column_key("date_of_birth")
    ),
    _BlockingRule(
        "given_name_formal+family_name",
        '(l."given_name_formal" = r."given_name_formal") AND (l."family_name" = r."family_name")',
        _composite_key(
            lambda row: row.get("given_name_formal"), lambda row: row.get("family_name")
        ),
    ),
    _BlockingRule(
        "family_name_prefix+birth_year",
        "(SUBSTRING(l.family_name, 1, 3) = SUBSTRING(r.family_name, 1, 3)) AND "
        '(l."birth_year" = r."birth_year")',
        _composite_key(_family_name_prefix, lambda row: row.get("birth_year")),
    ),
    _BlockingRule("upn", 'l."upn" = r."upn"', _column_key("upn")),
    _BlockingRule("la_child_id", 'l."la_child_id" = r."la_child_id"', _column_key("la_child_id")),
)


def blocking_keys(row: Row) -> frozenset[tuple[str, str]]:
    """(rule, value) for every blocking rule of model.py whose parts are all non-null in the
    row. Two rows are a candidate pair exactly when their key sets intersect, as Splink's
    `blocking_rules_to_generate_predictions` would pair them; a store indexes these keys."""
    keys = ((rule.name, rule.key(row)) for rule in BLOCKING_RULES)
    return frozenset((name, value) for name, value in keys if value is not None)


# -- term frequencies ---------------------------------------------------------------------


class TermFrequencies:
    """Per tf column, how often each value occurs among the records with a value: Splink's
    tf tables (term_frequencies.py: count(*) / count(column), nulls left out). Built from rows
    and kept up to date one row at a time as the index learns records; the one mutable piece
    of the scorer, owned by whoever owns the record store.

    Splink's batch `predict` counts every record it links, the pair's own two included. A new
    record scored before it is `add`ed leaves its name one count short: for a name held by one
    stored record that halves the frequency (1/N instead of 2/(N+1)), a bit more weight on an
    exact match than the batch model gives; for common names it makes no visible difference."""

    __slots__ = ("_counts", "_totals")

    def __init__(self) -> None:
        self._counts: dict[str, Counter[Any]] = {col: Counter() for col in TF_COLUMNS}
        self._totals: dict[str, int] = dict.fromkeys(TF_COLUMNS, 0)

    @classmethod
    def from_rows(cls, rows: Iterable[Row]) -> TermFrequencies:
        frequencies = cls()
        for row in rows:
            frequencies.add(row)
        return frequencies

    @classmethod
    def from_counts(cls, counts: Mapping[str, Mapping[str, int]]) -> TermFrequencies:
        """Start from name counts (a population's, name_frequencies.json), so that a young
        index weighs a shared family name as a mature one would: with ten records in it,
        every name would otherwise look common and an exact match worth little."""
        frequencies = cls()
        for col in TF_COLUMNS:
            for value, count in counts.get(col, {}).items():
                frequencies._counts[col][value] += int(count)
                frequencies._totals[col] += int(count)
        return frequencies

    def counts(self) -> dict[str, dict[str, int]]:
        """The counts, as name_frequencies.json holds them."""
        return {col: dict(sorted(self._counts[col].items())) for col in TF_COLUMNS}

    def add(self, row: Row) -> None:
        for col in TF_COLUMNS:
            value = row.get(col)
            if value is not None:
                self._counts[col][value] += 1
                self._totals[col] += 1

    def frequency(self, column: str, value: Any) -> float | None:
        """The value's share of the column's non-null values; None for a null or unseen value
        (Splink's left join finds no tf row then)."""
        if value is None:
            return None
        count = self._counts[column].get(value, 0)
        return count / self._totals[column] if count else None


# -- the trained model ----------------------------------------------------------------------


class ComparisonOutcome(NamedTuple):  # a tuple: made eight times per pair scored
    """Which level of a comparison a pair reached, and what it added to the match weight
    (the level's log2(m/u) plus its term-frequency adjustment): the evidence a reviewer reads."""

    comparison: str
    level: str
    match_weight: float


@dataclass(frozen=True, slots=True)
class PairScore:
    match_weight: float
    match_probability: float
    comparisons: tuple[ComparisonOutcome, ...]

    @property
    def levels(self) -> dict[str, str]:
        """comparison name -> the label of the level the pair reached."""
        return {outcome.comparison: outcome.level for outcome in self.comparisons}


@dataclass(frozen=True, slots=True)
class _TfAdjustment:
    column: str
    weight: float
    log2_u_exact: float  # log2 of the u of the exact-match level on the column
    minimum_u: float

    def __call__(self, left: Row, right: Row, frequencies: TermFrequencies) -> float:
        tf_l = frequencies.frequency(self.column, left.get(self.column))
        tf_r = frequencies.frequency(self.column, right.get(self.column))
        # greatest(coalesce(tf_l, tf_r), coalesce(tf_r, tf_l), tf_minimum_u_value), and no
        # adjustment when both are null
        if tf_l is None:
            if tf_r is None:
                return 0.0
            u = tf_r
        else:
            u = tf_l if tf_r is None or tf_l >= tf_r else tf_r
        return self.weight * (self.log2_u_exact - math.log2(max(u, self.minimum_u)))


@dataclass(frozen=True, slots=True)
class _TrainedLevel:
    label: str
    applies: Predicate
    match_weight: float
    tf_adjustment: _TfAdjustment | None


@dataclass(frozen=True, slots=True)
class _TrainedComparison:
    name: str
    levels: tuple[_TrainedLevel, ...]
    has_tf: bool  # Splink adds this comparison's tf column (0 at other levels) to the sum


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """model.json, checked against the online predicates and ready to score pairs."""

    prior_match_weight: float
    comparisons: tuple[_TrainedComparison, ...]

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> TrainedModel:
        return cls.from_json(json.loads(path.read_text()))

    @classmethod
    def from_json(cls, model: Mapping[str, Any]) -> TrainedModel:
        if model.get("sql_dialect") != "duckdb":
            raise ModelMismatch(
                "sql_dialect",
                f"saved for {model.get('sql_dialect')!r}; the string functions here are DuckDB's",
            )
        saved_rules = [
            rule.get("blocking_rule")
            for rule in model.get("blocking_rules_to_generate_predictions", [])
        ]
        if saved_rules != [rule.sql for rule in BLOCKING_RULES]:
            raise ModelMismatch(
                "blocking_rules_to_generate_predictions",
                f"saved {saved_rules!r}, blocking_keys mirrors "
                f"{[rule.sql for rule in BLOCKING_RULES]!r}",
            )
        saved = list(model.get("comparisons", []))
        names = [c.get("output_column_name") for c in saved]
        expected = [c.name for c in COMPARISONS]
        if names != expected:
            raise ModelMismatch(
                "comparisons", f"saved comparisons {names!r}, predicates written for {expected!r}"
            )
        prior = float(model["probability_two_random_records_match"])
        return cls(
            prior_match_weight=math.log2(prior / (1 - prior)),
            comparisons=tuple(
                _trained_comparison(spec, data)
                for spec, data in zip(COMPARISONS, saved, strict=True)
            ),
        )

    def score(self, new: Row, candidate: Row, term_frequencies: TermFrequencies) -> PairScore:
        """Score a pair of `match_row` rows (`new` on Splink's left, `candidate` on its
        right): the same match weight and probability as Splink's `score_pairs` given the same
        term frequencies. A column missing from a row counts as null."""
        weight = self.prior_match_weight
        outcomes = []
        for comparison in self.comparisons:
            for level in comparison.levels:
                if level.applies(new, candidate):
                    break
            else:  # unreachable: every comparison in COMPARISONS ends in ELSE
                raise AssertionError(comparison.name)
            tf = 0.0
            if level.tf_adjustment is not None:
                tf = level.tf_adjustment(new, candidate, term_frequencies)
            weight += level.match_weight
            if comparison.has_tf:
                weight += tf
            outcomes.append(
                ComparisonOutcome(comparison.name, level.label, level.match_weight + tf)
            )
        return PairScore(
            match_weight=weight,
            match_probability=_probability(weight),
            comparisons=tuple(outcomes),
        )


def _probability(weight: float) -> float:
    # As predict.py: 2^-w cannot overflow for w >= 0, 2^w cannot for w < 0.
    if weight >= 0:
        return 1.0 / (1.0 + math.pow(2.0, -weight))
    bayes_factor = math.pow(2.0, weight)
    return bayes_factor / (1.0 + bayes_factor)


def _trained_comparison(spec: _Comparison, data: Mapping[str, Any]) -> _TrainedComparison:
    saved = list(data.get("comparison_levels", []))
    if len(saved) != len(spec.levels):
        raise ModelMismatch(
            spec.name, f"{len(saved)} levels saved, predicates written for {len(spec.levels)}"
        )
    for n, (level, level_data) in enumerate(zip(spec.levels, saved, strict=True)):
        found = (
            level_data.get("sql_condition"),
            level_data.get("label_for_charts"),
            bool(level_data.get("is_null_level", False)),
        )
        if found != (level.sql_condition, level.label, level.is_null):
            raise ModelMismatch(
                spec.name,
                f"level {n} is {found!r}, its predicate was written for "
                f"{(level.sql_condition, level.label, level.is_null)!r}",
            )
    u_of_exact = {
        level.exact_match_on: _probability_of(spec.name, n, level_data, "u_probability")
        for n, (level, level_data) in enumerate(zip(spec.levels, saved, strict=True))
        if level.exact_match_on is not None
    }
    trained = []
    for n, (level, level_data) in enumerate(zip(spec.levels, saved, strict=True)):
        if level.is_null:
            trained.append(_TrainedLevel(level.label, level.applies, 0.0, None))
            continue
        m = max(_probability_of(spec.name, n, level_data, "m_probability"), _M_U_CLAMP_MIN)
        u = max(_probability_of(spec.name, n, level_data, "u_probability"), _M_U_CLAMP_MIN)
        trained.append(
            _TrainedLevel(
                level.label,
                level.applies,
                math.log2(m / u),
                _tf_adjustment(spec.name, n, level, level_data, u_of_exact),
            )
        )
    return _TrainedComparison(
        spec.name, tuple(trained), has_tf=any(lv.tf_adjustment is not None for lv in trained)
    )


def _probability_of(comparison: str, n: int, level: Mapping[str, Any], key: str) -> float:
    value = level.get(key)
    if value == _LEVEL_NOT_OBSERVED:
        return _LEVEL_NOT_OBSERVED_PROBABILITY
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ModelMismatch(comparison, f"level {n} has no trained {key} ({value!r})")
    return float(value)


def _tf_adjustment(
    comparison: str,
    n: int,
    level: _Level,
    level_data: Mapping[str, Any],
    u_of_exact: Mapping[str, float],
) -> _TfAdjustment | None:
    column = level_data.get("tf_adjustment_column")
    weight = float(level_data.get("tf_adjustment_weight", 1.0))  # Splink's default
    if column is None or weight == 0 or level.sql_condition == "ELSE":
        return None
    if column not in TF_COLUMNS:
        raise ModelMismatch(
            comparison, f"level {n} adjusts on {column!r}; TermFrequencies keeps {TF_COLUMNS!r}"
        )
    if column not in u_of_exact:
        raise ModelMismatch(
            comparison, f"level {n} adjusts on {column!r} but no level is an exact match on it"
        )
    return _TfAdjustment(
        column=column,
        weight=weight,
        log2_u_exact=math.log2(u_of_exact[column]),
        minimum_u=float(level_data.get("tf_minimum_u_value", 0.0)),
    )
