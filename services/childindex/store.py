"""The child index's store: records, children and their merges, the review queue, people's
linkage decisions, what notices said (child context) and the LINKAGE_CHANGED outbox.

SQLite (one file, 0600, WAL) under the index's data directory: the index is one process, and
a decision, its merge and its outbox event commit in one transaction, so a crash never leaves
a merge without its event or an event without its merge. The publisher (publisher.py) sends
outbox events to the bus and marks them sent; consumers apply an event id once.

Children: each has a key (its pseudonymous linkage key, the notice key) and, once merged,
the key it was merged into. A child's *current* key is the end of that chain; its *keys* are
every key whose chain ends there. Nothing delivered is rewritten: notices keep the key they
were published under, and a merge only joins keys.

Personal data is sealed (sealing.py, services/hubkit/child_keys.py): a record's match row and
evidence, an observation's body and a review's rationale are sealed under the data key of the
child key they were stored under (`child_keys`, wrapped under the index's store key); what is
looked up by an identifier (blocking keys, fingerprints, match digests) is a keyed digest.
`erase_child` deletes a child's data keys and rows: what was sealed under them is noise in the
file, its WAL and its backups. The file is readable by the index alone (0600); logs never
carry an identifier or a key. README.md, "At rest", lists what stays clear and why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from services.childindex.context import child_context
from services.childindex.demographics import ChildProfile, child_profile, consensus
from services.childindex.domain import canonical_identifiers
from services.childindex.errors import (
    ChildNotFound,
    ReviewAlreadyDecided,
    ReviewNotFound,
    StoreUnreadable,
)
from services.childindex.matching.records import match_row
from services.childindex.matching.thresholds import Thresholds
from services.childindex.resolution import Candidate, Resolution, decide_child
from services.childindex.sealing import IndexSealing, value_aad
from services.childindex.search import SEARCH_MIN_SCORE, rank_matches, require_searchable
from services.hubkit.child_keys import open_sealed, seal
from services.hubkit.errors import SealingError
from services.hubkit.linkage import (
    ChildIdentifiers,
    IdentifiersIncomplete,
    is_valid_nhs_number,
)
from services.hubkit.sqlite_store import PrivateSqlite

__all__ = [
    "MODEL_DECIDER",
    "ChildIndexStore",
    "ChildMatch",
    "LinkageEvent",
    "RecordScorer",
    "ReviewDecision",
    "require_resolvable",
]

Row = Mapping[str, Any]
_log = logging.getLogger(__name__)
MODEL_DECIDER = "childindex-model"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS children (
    child_key TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    merged_into TEXT REFERENCES children(child_key),
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS children_merged_into ON children(merged_into);
CREATE TABLE IF NOT EXISTS records (
    record_id INTEGER PRIMARY KEY,
    child_key TEXT NOT NULL REFERENCES children(child_key),
    agency TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    match_row BLOB NOT NULL,
    match_digest TEXT NOT NULL,
    evidence BLOB NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_child ON records(child_key);
CREATE TABLE IF NOT EXISTS blocking_keys (
    blocking_key TEXT NOT NULL,
    record_id INTEGER NOT NULL REFERENCES records(record_id)
);
CREATE INDEX IF NOT EXISTS blocking_keys_key ON blocking_keys(blocking_key);
CREATE TABLE IF NOT EXISTS reviews (
    review_id TEXT PRIMARY KEY,
    left_key TEXT NOT NULL,
    right_key TEXT NOT NULL,
    match_probability REAL NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    rationale BLOB
);
CREATE INDEX IF NOT EXISTS reviews_status ON reviews(status, match_probability);
CREATE TABLE IF NOT EXISTS kept_apart (
    key_a TEXT NOT NULL,
    key_b TEXT NOT NULL,
    review_id TEXT NOT NULL,
    PRIMARY KEY (key_a, key_b)
);
CREATE TABLE IF NOT EXISTS observations (
    notice_id TEXT PRIMARY KEY,
    child_key TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS observations_child ON observations(child_key);
CREATE TABLE IF NOT EXISTS child_keys (
    child_key TEXT PRIMARY KEY,
    wrapped_key BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS erased_children (
    key_digest TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    published_at TEXT
);
"""

# PRAGMA user_version of an index whose personal data is sealed; 0: made before sealing.
_SEALED_FORMAT = 2
_OPEN, _SAME, _NOT_SAME = "open", "same_child", "not_same_child"
_MAX_EVIDENCE = 20  # records shown per side of a review, latest first


class RecordScorer(Protocol):
    """The trained model, online: blocking keys, match probability, term frequencies."""

    def blocking_keys(self, row: Row) -> frozenset[tuple[str, str]]: ...
    def probability(self, row: Row, other: Row) -> float: ...
    def learn(self, row: Row) -> None: ...


@dataclass(frozen=True, slots=True)
class LinkageEvent:
    """A LINKAGE_CHANGED event waiting in the outbox (safehub.childindex.LinkageChanged)."""

    event_id: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChildMatch:
    """A child a search found: keys and a score, never an identifier."""

    child_key: str
    """The child's current key (after merges)."""
    keys: tuple[str, ...]
    """Every key that is now this child, itself included (notices keep the key they were
    published under, so a reader needs all of them to find the child's notices)."""
    score: float
    strength: str


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    review_id: str
    status: str
    child_key: str


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return found is not None


def require_resolvable(identifiers: ChildIdentifiers) -> None:
    """A record the index can place: a strong identifier (valid NHS number, UPN, LA child
    id), or given and family name with a date of birth or a postcode."""
    if identifiers.nhs_number and is_valid_nhs_number(identifiers.nhs_number):
        return
    if (identifiers.upn or "").strip() or (identifiers.la_child_id or "").strip():
        return
    if (
        (identifiers.given_name or "").strip()
        and (identifiers.family_name or "").strip()
        and (identifiers.date_of_birth or (identifiers.postcode or "").strip())
    ):
        return
    raise IdentifiersIncomplete(
        "the child index needs a valid NHS number, a UPN or an LA child id, or the child's "
        "given and family name with a date of birth or a postcode"
    )


@dataclass(frozen=True, slots=True)
class _Identified:
    """A resolve request as the matcher's IdentifiedRecord."""

    record_id: str
    given_name: str | None
    family_name: str | None
    sex: str | None
    date_of_birth: dt.date | None
    postcode: str | None
    nhs_number: str | None
    upn: str | None
    la_child_id: str | None


def _match_row(identifiers: ChildIdentifiers, record_id: str) -> dict[str, Any]:
    sex = (identifiers.sex or "").strip().upper()[:1] or None
    return match_row(
        _Identified(
            record_id=record_id,
            given_name=identifiers.given_name,
            family_name=identifiers.family_name,
            sex=sex if sex in ("F", "M") else None,
            date_of_birth=identifiers.date_of_birth,
            postcode=identifiers.postcode,
            nhs_number=identifiers.nhs_number,
            upn=identifiers.upn,
            la_child_id=identifiers.la_child_id,
        )
    )


class ChildIndexStore:
    """Thread-safe (one lock: SQLite has one writer anyway); every method is one transaction."""

    def __init__(
        self,
        path: Path,
        *,
        secret: bytes,
        store_key: bytes,
        scorer: RecordScorer,
        thresholds: Thresholds,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        """`secret`: the hub's linkage secret (new children's keys); `store_key`: the index's
        own store key (sealing.py), which nothing else holds. Raises StoreUnreadable when the
        store key does not open what the file holds."""
        self._sqlite = PrivateSqlite(path)
        self._sealing = IndexSealing(store_key)
        self._keys = self._sealing.child_keys
        self._secret = secret
        self._scorer = scorer
        self._thresholds = thresholds
        self._clock = clock
        with self._sqlite.reading() as db:
            # A deleted row's bytes are overwritten, not left in free pages (erase_child).
            db.execute("PRAGMA secure_delete=ON")
            (version,) = db.execute("PRAGMA user_version").fetchone()
            made_before_sealing = version < _SEALED_FORMAT and _has_table(db, "records")
        self._sqlite.ensure_schema(_SCHEMA)
        if made_before_sealing:
            self._seal_in_place()
        else:
            with self._sqlite.transaction() as db:
                db.execute(f"PRAGMA user_version = {_SEALED_FORMAT}")
        try:
            with self._sqlite.reading() as db:
                opened = self._opener()
                for found in db.execute(
                    "SELECT r.child_key, r.fingerprint, r.match_row, k.wrapped_key "
                    "FROM records r JOIN child_keys k ON k.child_key = r.child_key "
                    "ORDER BY r.record_id"
                ):
                    scorer.learn(opened(found, "match_row"))
        except SealingError:
            self._sqlite.close()
            raise StoreUnreadable(
                f"the child index at {path} does not open with its store key (the key was "
                "replaced, or the file altered): restore the index's store.key, or the file, "
                "from the backup taken with the other (a new key cannot read it)"
            ) from None

    def close(self) -> None:
        self._sqlite.close()

    # -- sealing ------------------------------------------------------------------------

    def _data_key(self, db: sqlite3.Connection, child_key: str) -> bytes:
        """The data key of `child_key`, made on first use."""
        row = db.execute(
            "SELECT wrapped_key FROM child_keys WHERE child_key = ?", (child_key,)
        ).fetchone()
        if row is not None:
            return self._keys.unwrap(child_key, bytes(row[0]))
        data_key, wrapped = self._keys.new_data_key(child_key)
        db.execute(
            "INSERT INTO child_keys (child_key, wrapped_key) VALUES (?, ?)", (child_key, wrapped)
        )
        return data_key

    def _opener(self) -> Callable[[Row, str], Any]:
        """Opens a record's sealed column from a row carrying child_key, fingerprint, the
        column and the child's wrapped_key; each child's key is unwrapped once per call."""
        unwrapped: dict[str, bytes] = {}

        def opened(found: Row, column: str) -> Any:
            child_key = found["child_key"]
            key = unwrapped.get(child_key)
            if key is None:
                key = unwrapped[child_key] = self._keys.unwrap(
                    child_key, bytes(found["wrapped_key"])
                )
            aad = value_aad("records", found["fingerprint"], column)
            return json.loads(open_sealed(key, bytes(found[column]), aad=aad))

        return opened

    def _seal_record(self, key: bytes, fingerprint: str, column: str, value: Any) -> bytes:
        return seal(key, json.dumps(value).encode(), aad=value_aad("records", fingerprint, column))

    def _seal_rationale(
        self, db: sqlite3.Connection, review_id: str, left: str, right: str, rationale: str
    ) -> bytes:
        # Under both children's keys, one inside the other: erasing either shreds it.
        inner = seal(
            self._data_key(db, left),
            rationale.encode(),
            aad=value_aad("reviews", review_id, f"rationale:{left}"),
        )
        return seal(
            self._data_key(db, right),
            inner,
            aad=value_aad("reviews", review_id, f"rationale:{right}"),
        )

    def _open_rationale(self, db: sqlite3.Connection, row: sqlite3.Row) -> str | None:
        if row["rationale"] is None:
            return None
        review_id, left, right = row["review_id"], row["left_key"], row["right_key"]
        inner = open_sealed(
            self._data_key(db, right),
            bytes(row["rationale"]),
            aad=value_aad("reviews", review_id, f"rationale:{right}"),
        )
        return open_sealed(
            self._data_key(db, left),
            inner,
            aad=value_aad("reviews", review_id, f"rationale:{left}"),
        ).decode()

    def _is_erased(self, db: sqlite3.Connection, child_key: str) -> bool:
        return (
            db.execute(
                "SELECT 1 FROM erased_children WHERE key_digest = ?",
                (self._sealing.erased_key(child_key),),
            ).fetchone()
            is not None
        )

    def _now(self) -> str:
        return self._clock().isoformat(timespec="milliseconds")

    # -- resolving ---------------------------------------------------------------------

    def resolve(self, agency: str, identifiers: ChildIdentifiers) -> str:
        """The child's current key; a record seen for the first time is added to the index.
        Raises IdentifiersIncomplete (require_resolvable)."""
        require_resolvable(identifiers)
        evidence = identifiers.to_json()
        fingerprint = self._sealing.fingerprint(agency, evidence)
        with self._sqlite.transaction() as db:
            seen = db.execute(
                "SELECT child_key FROM records WHERE fingerprint = ?", (fingerprint,)
            ).fetchone()
            if seen is not None:
                return self._current_key(db, seen["child_key"])
            row = _match_row(identifiers, record_id=fingerprint[:16])
            keys = self._scorer.blocking_keys(row)
            # Term frequencies count the new record too, as Splink's batch scoring does.
            self._scorer.learn(row)
            resolution = decide_child(
                row,
                self._candidates(db, keys),
                score=self._scorer.probability,
                thresholds=self._thresholds,
                kept_apart=lambda a, b: self._kept_apart(db, a, b),
            )
            child = self._place(db, resolution, identifiers)
            data_key = self._data_key(db, child)
            cursor = db.execute(
                "INSERT INTO records (child_key, agency, fingerprint, match_row, match_digest, "
                "evidence, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    child,
                    agency,
                    fingerprint,
                    self._seal_record(data_key, fingerprint, "match_row", row),
                    self._sealing.match_digest(row),
                    self._seal_record(data_key, fingerprint, "evidence", evidence),
                    self._now(),
                ),
            )
            db.executemany(
                "INSERT INTO blocking_keys (blocking_key, record_id) VALUES (?, ?)",
                [
                    (self._sealing.blocking_key(rule, value), cursor.lastrowid)
                    for rule, value in keys
                ],
            )
        return child

    def _candidates(
        self, db: sqlite3.Connection, keys: Iterable[tuple[str, str]]
    ) -> list[Candidate]:
        digests = [self._sealing.blocking_key(rule, value) for rule, value in keys]
        if not digests:
            return []
        marks = ",".join("?" * len(digests))
        # A child reported many times with the same identifiers is scored once: one record
        # per child and distinct comparable row (most of a frequently-missing child's thirty
        # reports are alike). The other columns are the first such record's (SQLite takes a
        # bare column from the row MIN() picked); its child's wrapped key comes along, so
        # this stays one query and the rows are opened in memory.
        rows = db.execute(
            "SELECT r.child_key, MIN(r.record_id) AS record_id, r.fingerprint, r.match_row, "
            "k.wrapped_key FROM blocking_keys b JOIN records r ON r.record_id = b.record_id "
            f"JOIN child_keys k ON k.child_key = r.child_key WHERE b.blocking_key IN ({marks}) "
            "GROUP BY r.child_key, r.match_digest",
            digests,
        ).fetchall()
        opened = self._opener()
        candidates = []
        for found in rows:
            current = self._current_key(db, found["child_key"])
            candidates.append(
                Candidate(
                    child_key=current,
                    child_seq=self._seq(db, current),
                    row=opened(found, "match_row"),
                )
            )
        return candidates

    def _place(
        self, db: sqlite3.Connection, resolution: Resolution, identifiers: ChildIdentifiers
    ) -> str:
        if resolution.joins is not None:
            for other in resolution.merges:
                self._merge(
                    db,
                    survivor=resolution.joins,
                    absorbed=other,
                    decided_by=MODEL_DECIDER,
                    review_id=None,
                    probability=resolution.best_probability,
                )
            return resolution.joins
        child = self._new_child(db, identifiers)
        if resolution.review is not None:
            other, probability = resolution.review
            db.execute(
                "INSERT INTO reviews (review_id, left_key, right_key, match_probability, "
                "status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (str(uuid.uuid4()), other, child, probability, _OPEN, self._now()),
            )
        return child

    def _new_child(self, db: sqlite3.Connection, identifiers: ChildIdentifiers) -> str:
        # A child first seen with a valid NHS number or the four demo identifiers keeps the
        # key the hub gave before the index matched (HMAC of the canonical identifiers), so
        # notices already on the bus stay linked; any other child gets a fresh random key.
        try:
            canonical = canonical_identifiers(identifiers)
        except IdentifiersIncomplete:
            canonical = f"child:{uuid.uuid4()}"
        key = hmac.new(self._secret, canonical.encode(), hashlib.sha256).hexdigest()
        # An erased child's key is never given again: the new record is a new child, and
        # notices still on the bus under the old key do not join it.
        taken = db.execute("SELECT 1 FROM children WHERE child_key = ?", (key,)).fetchone()
        if taken or self._is_erased(db, key):
            key = hmac.new(
                self._secret, f"child:{uuid.uuid4()}".encode(), hashlib.sha256
            ).hexdigest()
        (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM children").fetchone()
        db.execute(
            "INSERT INTO children (child_key, seq, created_at) VALUES (?, ?, ?)",
            (key, seq, self._now()),
        )
        return key

    # -- children, merges and splits ----------------------------------------------------

    def _current_key(self, db: sqlite3.Connection, key: str) -> str:
        seen = {key}
        while True:
            row = db.execute(
                "SELECT merged_into FROM children WHERE child_key = ?", (key,)
            ).fetchone()
            if row is None or row["merged_into"] is None:
                return key
            key = row["merged_into"]
            if key in seen:  # pragma: no cover - merges never make a cycle
                raise RuntimeError("a merge cycle in the child index")
            seen.add(key)

    def _seq(self, db: sqlite3.Connection, key: str) -> int:
        row = db.execute("SELECT seq FROM children WHERE child_key = ?", (key,)).fetchone()
        return int(row["seq"]) if row else 0

    def _group(self, db: sqlite3.Connection, key: str) -> list[str]:
        """Every key merged (directly or not) into `key`, and `key` itself."""
        rows = db.execute(
            "WITH RECURSIVE g(k) AS (SELECT ? UNION SELECT c.child_key FROM children c "
            "JOIN g ON c.merged_into = g.k) SELECT k FROM g",
            (key,),
        ).fetchall()
        return sorted(row["k"] for row in rows)

    def _kept_apart(self, db: sqlite3.Connection, a: str, b: str) -> bool:
        left, right = self._group(db, a), self._group(db, b)
        marks_l, marks_r = ",".join("?" * len(left)), ",".join("?" * len(right))
        row = db.execute(
            f"SELECT 1 FROM kept_apart WHERE (key_a IN ({marks_l}) AND key_b IN ({marks_r})) "
            f"OR (key_a IN ({marks_r}) AND key_b IN ({marks_l})) LIMIT 1",
            [*left, *right, *right, *left],
        ).fetchone()
        return row is not None

    def _merge(
        self,
        db: sqlite3.Connection,
        *,
        survivor: str,
        absorbed: str,
        decided_by: str,
        review_id: str | None,
        probability: float | None,
    ) -> None:
        absorbed_keys = self._group(db, absorbed)
        db.execute("UPDATE children SET merged_into = ? WHERE child_key = ?", (survivor, absorbed))
        self._announce(db, "MERGE", survivor, absorbed_keys, decided_by, review_id, probability)

    def _split(
        self, db: sqlite3.Connection, *, detach: str, decided_by: str, review_id: str
    ) -> str:
        root = self._current_key(db, detach)
        detached_keys = self._group(db, detach)
        db.execute("UPDATE children SET merged_into = NULL WHERE child_key = ?", (detach,))
        self._announce(db, "SPLIT", root, detached_keys, decided_by, review_id, None)
        return root

    def _announce(
        self,
        db: sqlite3.Connection,
        kind: str,
        child_key: str,
        other_keys: Sequence[str],
        decided_by: str,
        review_id: str | None,
        probability: float | None,
    ) -> None:
        event_id = str(uuid.uuid4())
        body = {
            "event_id": event_id,
            "kind": kind,
            "child_key": child_key,
            "other_keys": list(other_keys),
            "decided_by": decided_by,
            "review_id": review_id,
            "match_probability": probability,
            "occurred_at": int(self._clock().timestamp() * 1000),
        }
        db.execute(
            "INSERT INTO outbox (event_id, body) VALUES (?, ?)", (event_id, json.dumps(body))
        )

    def keys_of(self, child_key: str) -> tuple[str, list[str]]:
        """(current key, every key of that child). Raises ChildNotFound."""
        with self._sqlite.reading() as db:
            if not db.execute(
                "SELECT 1 FROM children WHERE child_key = ?", (child_key,)
            ).fetchone():
                raise ChildNotFound("the child index has no child with that key")
            current = self._current_key(db, child_key)
            return current, self._group(db, current)

    def profiles(self, asked: Sequence[tuple[str, dt.date]]) -> list[ChildProfile | None]:
        """For each (key, day): the child's age band on that day and sex, from every record of
        every key the child has had (demographics.py); None for a key the index never made."""
        rows_of: dict[str, list[dict[str, Any]]] = {}
        out: list[ChildProfile | None] = []
        with self._sqlite.reading() as db:
            for key, on in asked:
                if not db.execute("SELECT 1 FROM children WHERE child_key = ?", (key,)).fetchone():
                    out.append(None)
                    continue
                current = self._current_key(db, key)
                if current not in rows_of:
                    group = self._group(db, current)
                    marks = ",".join("?" * len(group))
                    opened = self._opener()
                    rows_of[current] = [
                        opened(found, "match_row")
                        for found in db.execute(
                            "SELECT r.child_key, r.fingerprint, r.match_row, k.wrapped_key "
                            "FROM records r JOIN child_keys k ON k.child_key = r.child_key "
                            f"WHERE r.child_key IN ({marks})",
                            group,
                        )
                    ]
                out.append(child_profile(rows_of[current], on))
        return out

    # -- searching ----------------------------------------------------------------------

    def search(
        self, identifiers: ChildIdentifiers, *, limit: int, min_score: float = SEARCH_MIN_SCORE
    ) -> list[ChildMatch]:
        """The children these typed identifiers most likely are, best first (search.py):
        normalised and blocked as a record being resolved is, scored by the same model, but
        nothing is stored and the model learns nothing. Raises IdentifiersIncomplete."""
        require_searchable(identifiers)
        row = _match_row(identifiers, record_id="search")
        with self._sqlite.reading() as db:
            ranked = rank_matches(
                row,
                self._candidates(db, self._scorer.blocking_keys(row)),
                score=self._scorer.probability,
                thresholds=self._thresholds,
                limit=limit,
                min_score=min_score,
            )
            return [
                ChildMatch(
                    child_key=match.child_key,
                    keys=tuple(self._group(db, match.child_key)),
                    score=match.score,
                    strength=match.strength.value,
                )
                for match in ranked
            ]

    # -- the review queue ---------------------------------------------------------------

    def reviews(self, *, status: str, limit: int) -> list[dict[str, Any]]:
        where = "status = ?" if status == _OPEN else "status != ?"
        with self._sqlite.reading() as db:
            rows = db.execute(
                f"SELECT * FROM reviews WHERE {where} "
                "ORDER BY match_probability DESC, created_at LIMIT ?",
                (_OPEN, limit),
            ).fetchall()
            return [self._review_document(db, row) for row in rows]

    def review(self, review_id: str) -> dict[str, Any]:
        with self._sqlite.reading() as db:
            row = db.execute("SELECT * FROM reviews WHERE review_id = ?", (review_id,)).fetchone()
            if row is None:
                raise ReviewNotFound("no review with that id")
            return self._review_document(db, row)

    def _review_document(self, db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        return {
            "review_id": row["review_id"],
            "status": row["status"],
            "match_probability": row["match_probability"],
            "created_at": row["created_at"],
            "left": self._side(db, row["left_key"]),
            "right": self._side(db, row["right_key"]),
            "decided_by": row["decided_by"],
            "decided_at": row["decided_at"],
            "rationale": self._open_rationale(db, row),
        }

    def _side(self, db: sqlite3.Connection, key: str) -> dict[str, Any]:
        keys = self._group(db, self._current_key(db, key))
        marks = ",".join("?" * len(keys))
        rows = db.execute(
            "SELECT r.child_key, r.fingerprint, r.agency, r.evidence, r.received_at, "
            "k.wrapped_key FROM records r JOIN child_keys k ON k.child_key = r.child_key "
            f"WHERE r.child_key IN ({marks}) ORDER BY r.record_id DESC LIMIT ?",
            [*keys, _MAX_EVIDENCE],
        ).fetchall()
        opened = self._opener()
        return {
            "child_key": key,
            "records": [
                {
                    "agency": r["agency"],
                    "received_at": r["received_at"],
                    **opened(r, "evidence"),
                }
                for r in rows
            ],
        }

    def decide(
        self, review_id: str, *, same_child: bool, decided_by: str, rationale: str
    ) -> ReviewDecision:
        """Record a person's answer; merge (same) or keep apart, splitting if merged (not the
        same). Raises ReviewNotFound, ReviewAlreadyDecided."""
        with self._sqlite.transaction(durable=True) as db:
            row = db.execute("SELECT * FROM reviews WHERE review_id = ?", (review_id,)).fetchone()
            if row is None:
                raise ReviewNotFound("no review with that id")
            if row["status"] != _OPEN:
                raise ReviewAlreadyDecided(
                    f"this review was already answered ({row['status']}) by "
                    f"{row['decided_by']} at {row['decided_at']}"
                )
            left, right = row["left_key"], row["right_key"]
            if same_child:
                status, child = _SAME, self._join_by_person(db, left, right, decided_by, row)
            else:
                status, child = _NOT_SAME, self._part_by_person(db, left, right, decided_by, row)
            sealed = self._seal_rationale(db, review_id, left, right, rationale)
            db.execute(
                "UPDATE reviews SET status = ?, decided_by = ?, decided_at = ?, rationale = ? "
                "WHERE review_id = ?",
                (status, decided_by, self._now(), sealed, review_id),
            )
            return ReviewDecision(review_id=review_id, status=status, child_key=child)

    def _join_by_person(
        self, db: sqlite3.Connection, left: str, right: str, decided_by: str, row: sqlite3.Row
    ) -> str:
        a, b = self._current_key(db, left), self._current_key(db, right)
        if a == b:
            return a
        # A person's "same" overrides an earlier "not the same" between these two children.
        group_a, group_b = self._group(db, a), self._group(db, b)
        for x in group_a:
            for y in group_b:
                db.execute(
                    "DELETE FROM kept_apart WHERE (key_a = ? AND key_b = ?) "
                    "OR (key_a = ? AND key_b = ?)",
                    (x, y, y, x),
                )
        survivor, absorbed = (a, b) if self._seq(db, a) <= self._seq(db, b) else (b, a)
        self._merge(
            db,
            survivor=survivor,
            absorbed=absorbed,
            decided_by=decided_by,
            review_id=row["review_id"],
            probability=row["match_probability"],
        )
        return survivor

    def _part_by_person(
        self, db: sqlite3.Connection, left: str, right: str, decided_by: str, row: sqlite3.Row
    ) -> str:
        key_a, key_b = sorted((left, right))
        db.execute(
            "INSERT OR REPLACE INTO kept_apart (key_a, key_b, review_id) VALUES (?, ?, ?)",
            (key_a, key_b, row["review_id"]),
        )
        if self._current_key(db, left) != self._current_key(db, right):
            return self._current_key(db, left)
        # Merged since the review was raised: undo the merge that joined them. Detach the
        # side that is not the current key (its own merged keys go with it), unless `left`
        # was merged into `right`: detaching `right` would then take `left` along.
        root = self._current_key(db, right)
        detach = right if right != root and left not in self._group(db, right) else left
        return self._split(db, detach=detach, decided_by=decided_by, review_id=row["review_id"])

    # -- child context ------------------------------------------------------------------

    def observe_and_contexts(
        self, observations: Sequence[Mapping[str, Any]], children: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Store each observation once (by notice id), then each child's context."""
        with self._sqlite.transaction() as db:
            data_keys: dict[str, bytes | None] = {}
            for o in observations:
                child_key, notice_id = str(o["child_key"]), str(o["notice_id"])
                if child_key not in data_keys:
                    # What a notice under an erased child's key says is not kept again.
                    erased = self._is_erased(db, child_key)
                    data_keys[child_key] = None if erased else self._data_key(db, child_key)
                key = data_keys[child_key]
                if key is None:
                    continue
                body = seal(
                    key, json.dumps(o).encode(), aad=value_aad("observations", notice_id, "body")
                )
                db.execute(
                    "INSERT OR IGNORE INTO observations (notice_id, child_key, body) "
                    "VALUES (?, ?, ?)",
                    (notice_id, child_key, body),
                )
            contexts: dict[str, dict[str, Any]] = {}
            for asked in dict.fromkeys(children):
                current = self._current_key(db, asked)
                keys = self._group(db, current)
                marks = ",".join("?" * len(keys))
                found = db.execute(
                    "SELECT o.notice_id, o.child_key, o.body, k.wrapped_key FROM observations o "
                    "JOIN child_keys k ON k.child_key = o.child_key "
                    f"WHERE o.child_key IN ({marks})",
                    keys,
                ).fetchall()
                contexts[asked] = child_context(current, keys, self._open_bodies(found))
            return contexts

    def _open_bodies(self, found: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
        unwrapped: dict[str, bytes] = {}
        bodies = []
        for row in found:
            child_key = row["child_key"]
            if child_key not in unwrapped:
                unwrapped[child_key] = self._keys.unwrap(child_key, bytes(row["wrapped_key"]))
            aad = value_aad("observations", row["notice_id"], "body")
            bodies.append(
                json.loads(open_sealed(unwrapped[child_key], bytes(row["body"]), aad=aad))
            )
        return bodies

    # -- erasure ------------------------------------------------------------------------

    def erase_child(self, child_key: str) -> list[str]:
        """Erase the child `child_key` is (any of its keys): every key of its merged group
        loses its data key, records, blocking keys, observations, reviews and kept-apart
        marks, and the keys themselves leave `children` (each remembered only as a keyed
        digest in `erased_children`, so none is given to a new child). Returns the keys
        erased. Raises ChildNotFound.

        Not done here: announcing the erasure on the bus. The outbox keeps the merge and split
        events already written (keys only, no identifiers): they are the bus's history, which
        the audit service holds in its own log."""
        with self._sqlite.transaction(durable=True) as db:
            if not db.execute(
                "SELECT 1 FROM children WHERE child_key = ?", (child_key,)
            ).fetchone():
                raise ChildNotFound("the child index has no child with that key")
            group = self._group(db, self._current_key(db, child_key))
            marks = ",".join("?" * len(group))
            db.execute(
                "DELETE FROM blocking_keys WHERE record_id IN "
                f"(SELECT record_id FROM records WHERE child_key IN ({marks}))",
                group,
            )
            for table, column in (
                ("records", "child_key"),
                ("observations", "child_key"),
                ("child_keys", "child_key"),
            ):
                db.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", group)
            db.execute(
                f"DELETE FROM reviews WHERE left_key IN ({marks}) OR right_key IN ({marks})",
                [*group, *group],
            )
            db.execute(
                f"DELETE FROM kept_apart WHERE key_a IN ({marks}) OR key_b IN ({marks})",
                [*group, *group],
            )
            db.execute(f"DELETE FROM children WHERE child_key IN ({marks})", group)
            db.executemany(
                "INSERT OR IGNORE INTO erased_children (key_digest, erased_at) VALUES (?, ?)",
                [(self._sealing.erased_key(key), self._now()) for key in group],
            )
        with self._sqlite.reading() as db:
            # Old page images in the write-ahead log go too (the main file's pages were
            # overwritten by secure_delete).
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return group

    def erasure_state(self, child_key: str) -> str:
        """ "held" while the index keeps `child_key` (any key of a child), "erased" once
        erase_child removed it, "unknown" for a key the index never made."""
        with self._sqlite.reading() as db:
            if db.execute("SELECT 1 FROM children WHERE child_key = ?", (child_key,)).fetchone():
                return "held"
            return "erased" if self._is_erased(db, child_key) else "unknown"

    def birth_dates(self) -> list[tuple[str, dt.date | None]]:
        """Every child (current key) with the date of birth most of their records give
        (demographics.consensus; None when none does, or they tie). For the retention review
        computed inside the index (erasure_routes.py): no date of birth leaves the process."""
        out: list[tuple[str, dt.date | None]] = []
        with self._sqlite.reading() as db:
            opened = self._opener()
            rows_of: dict[str, list[Any]] = {}
            for found in db.execute(
                "SELECT r.child_key, r.fingerprint, r.match_row, k.wrapped_key "
                "FROM records r JOIN child_keys k ON k.child_key = r.child_key"
            ):
                current = self._current_key(db, found["child_key"])
                rows_of.setdefault(current, []).append(
                    opened(found, "match_row").get("date_of_birth")
                )
            for (key,) in db.execute(
                "SELECT child_key FROM children WHERE merged_into IS NULL ORDER BY child_key"
            ):
                born = consensus(rows_of.get(key, []))
                try:
                    out.append((key, None if born is None else dt.date.fromisoformat(str(born))))
                except ValueError:
                    out.append((key, None))
        return out

    # -- an index made before sealing -----------------------------------------------------

    def _seal_in_place(self) -> None:
        """Seal an index file written before sealing, in one transaction, then rewrite the
        file (VACUUM) and empty its WAL so no clear page survives. Matching is unchanged:
        the same rows, blocking keys and fingerprints, only sealed or digested."""
        with self._sqlite.transaction(durable=True) as db:
            records = db.execute(
                "SELECT record_id, child_key, agency, match_row, evidence FROM records"
            ).fetchall()
            for found in records:
                row, evidence = json.loads(found["match_row"]), json.loads(found["evidence"])
                fingerprint = self._sealing.fingerprint(found["agency"], evidence)
                key = self._data_key(db, found["child_key"])
                db.execute(
                    "UPDATE records SET fingerprint = ?, match_row = ?, match_digest = ?, "
                    "evidence = ? WHERE record_id = ?",
                    (
                        fingerprint,
                        self._seal_record(key, fingerprint, "match_row", row),
                        self._sealing.match_digest(row),
                        self._seal_record(key, fingerprint, "evidence", evidence),
                        found["record_id"],
                    ),
                )
            texts = [t for (t,) in db.execute("SELECT DISTINCT blocking_key FROM blocking_keys")]
            db.executemany(
                "UPDATE blocking_keys SET blocking_key = ? WHERE blocking_key = ?",
                [(self._sealing.blocking_key_text(text), text) for text in texts],
            )
            for notice_id, child_key, body in db.execute(
                "SELECT notice_id, child_key, body FROM observations"
            ).fetchall():
                sealed = seal(
                    self._data_key(db, child_key),
                    str(body).encode(),
                    aad=value_aad("observations", notice_id, "body"),
                )
                db.execute(
                    "UPDATE observations SET body = ? WHERE notice_id = ?", (sealed, notice_id)
                )
            for review in db.execute(
                "SELECT review_id, left_key, right_key, rationale FROM reviews "
                "WHERE rationale IS NOT NULL"
            ).fetchall():
                sealed = self._seal_rationale(
                    db,
                    review["review_id"],
                    review["left_key"],
                    review["right_key"],
                    str(review["rationale"]),
                )
                db.execute(
                    "UPDATE reviews SET rationale = ? WHERE review_id = ?",
                    (sealed, review["review_id"]),
                )
            db.execute(f"PRAGMA user_version = {_SEALED_FORMAT}")
        with self._sqlite.reading() as db:
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _log.info("child index sealed in place (records=%d)", len(records))

    # -- the outbox ---------------------------------------------------------------------

    def unpublished_events(self, limit: int = 100) -> list[LinkageEvent]:
        with self._sqlite.reading() as db:
            rows = db.execute(
                "SELECT event_id, body FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [LinkageEvent(r["event_id"], json.loads(r["body"])) for r in rows]

    def mark_published(self, event_ids: Sequence[str]) -> None:
        with self._sqlite.transaction() as db:
            db.executemany(
                "UPDATE outbox SET published_at = ? WHERE event_id = ?",
                [(self._now(), event_id) for event_id in event_ids],
            )
