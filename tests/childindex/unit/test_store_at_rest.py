"""The child index at rest (issue 18): personal data sealed under each child's data key,
identifiers looked up only by keyed digest, a child erased by deleting its keys, and an index
file written before sealing sealed on upgrade. Real SQLite files, the trained model."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from services.childindex.errors import ChildNotFound, StoreUnreadable
from services.childindex.matcher import OnlineMatcher
from services.childindex.matching.thresholds import Thresholds
from services.childindex.store import _SCHEMA, ChildIndexStore, _match_row
from services.hubkit.child_keys import ChildKeys, open_sealed
from services.hubkit.errors import SealedValueUnreadable
from services.hubkit.linkage import ChildIdentifiers, is_valid_nhs_number

SECRET = b"s" * 32
STORE_KEY = b"k" * 32
DOB = dt.date(2011, 2, 3)
# Distinctive synthetic values, so a hit in the file's bytes can only be this child's.
GIVEN, FAMILY, POSTCODE, LA_ID = "Zephyrine", "Quillbottom", "ZX9 8QW", "LAQX77123"
NHS = next(n for n in (f"485739201{d}" for d in range(10)) if is_valid_nhs_number(n))
RATIONALE = "Zephyrine Quillbottom's twin, same school"
OBSERVED = "Quillbottom-placement-note"


def _store(path: Path, *, store_key: bytes = STORE_KEY) -> ChildIndexStore:
    return ChildIndexStore(
        path,
        secret=SECRET,
        store_key=store_key,
        scorer=OnlineMatcher.load(),
        thresholds=Thresholds.load(),
    )


def zephyrine(**fields: Any) -> ChildIdentifiers:
    base: dict[str, Any] = {
        "given_name": GIVEN,
        "family_name": FAMILY,
        "date_of_birth": DOB,
        "postcode": POSTCODE,
        "nhs_number": NHS,
        "la_child_id": LA_ID,
    }
    return ChildIdentifiers(**{**base, **fields})


def _needles() -> list[bytes]:
    """Every form in which this child's identifiers could reach the file in clear."""
    forms = [GIVEN, FAMILY, POSTCODE, POSTCODE.replace(" ", ""), NHS, LA_ID, OBSERVED]
    forms += [DOB.isoformat(), DOB.strftime("%Y%m%d"), DOB.strftime("%d/%m/%Y"), "twin"]
    return [form.lower().encode() for form in forms]


def _leaks(path: Path) -> list[str]:
    """Which needles appear, in any case, in the SQLite file, its WAL or shared memory."""
    found = []
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            data = file.read_bytes().lower()
            found += [f"{file.name}: {n.decode()}" for n in _needles() if n in data]
    return found


def _observation(notice_id: str, child_key: str) -> dict[str, Any]:
    return {
        "notice_id": notice_id,
        "child_key": child_key,
        "agency": "CHILDRENS_SERVICES",
        "created_at": "2026-03-01T10:00:00Z",
        "exploitation_flagged": False,
        "exploitation_types": [],
        "placing_la": OBSERVED,
    }


def _populate(store: ChildIndexStore) -> tuple[str, str]:
    """Zephyrine from three agencies, a twin in review decided with a rationale naming her,
    and an observation: every table that holds personal data gets some."""
    key = store.resolve("HEALTH", zephyrine())
    assert store.resolve("POLICE", zephyrine(nhs_number=None, la_child_id=None)) == key
    assert store.resolve("CHILDRENS_SERVICES", zephyrine(given_name="Zeph")) == key
    twin = store.resolve("HEALTH", zephyrine(given_name="Xanthe", nhs_number=None))
    (review,) = store.reviews(status="open", limit=10)
    store.decide(review["review_id"], same_child=False, decided_by="u-1", rationale=RATIONALE)
    store.observe_and_contexts([_observation("n-1", key)], [key])
    return key, twin


def test_the_canary_is_detectable(tmp_path: Path) -> None:
    # The bytes test below can fail: written in clear, the needles are found.
    plain = tmp_path / "plain.sqlite"
    with sqlite3.connect(plain) as db:
        db.execute("CREATE TABLE t (v TEXT)")
        db.execute("INSERT INTO t VALUES (?)", (json.dumps(_match_row(zephyrine(), "r")),))
    assert len(_leaks(plain)) >= 5


def test_no_identifier_reaches_the_file_or_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    store = _store(path)
    key, _twin = _populate(store)
    assert path.with_name("index.sqlite-wal").stat().st_size > 0
    assert _leaks(path) == []
    # ...and everything still reads back through the store.
    (decided,) = store.reviews(status="decided", limit=10)
    assert decided["rationale"] == RATIONALE
    records = decided["left"]["records"]
    assert {r["given_name"] for r in records} >= {GIVEN, "Zeph"}
    context = store.observe_and_contexts([], [key])[key]
    assert context["placing_la"] == OBSERVED
    assert store.search(zephyrine(), limit=3)[0].child_key == key
    store.close()
    assert _leaks(path) == []


def test_blocking_keys_and_fingerprints_are_keyed_digests(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    store = _store(path)
    store.resolve("HEALTH", zephyrine())
    store.close()
    with sqlite3.connect(path) as db:
        blocking = [k for (k,) in db.execute("SELECT blocking_key FROM blocking_keys")]
        (fingerprint,) = db.execute("SELECT fingerprint FROM records").fetchone()
    assert blocking
    assert all(len(k) == 32 and "=" not in k for k in blocking)
    # An unkeyed hash of the identifiers (what the index stored before) is not there.
    evidence = zephyrine().to_json()
    unkeyed = hashlib.sha256(json.dumps(["HEALTH", evidence], sort_keys=True).encode())
    assert fingerprint != unkeyed.hexdigest()
    # The same store key finds the same child again after a restart.
    reopened = _store(path)
    assert reopened.search(zephyrine(nhs_number=None, la_child_id=None), limit=1)


def test_another_store_key_does_not_open_the_index(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    _populate(_store(path))
    with pytest.raises(StoreUnreadable, match=r"store\.key"):
        _store(path, store_key=b"x" * 32)


def test_a_sealed_value_moved_to_another_row_does_not_open(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    store = _store(path)
    store.resolve("HEALTH", zephyrine())
    store.resolve("POLICE", zephyrine(nhs_number=None))
    store.close()
    _store(path).close()  # untouched, it opens
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT record_id, match_row FROM records ORDER BY record_id").fetchall()
        # Same child, same data key: only the associated data (the row) tells them apart.
        db.execute("UPDATE records SET match_row = ? WHERE record_id = ?", (rows[0][1], rows[1][0]))
    with pytest.raises(StoreUnreadable, match="altered"):
        _store(path)


def test_erasing_a_child_shreds_it_and_a_new_record_is_a_new_child(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    store = _store(path)
    key, twin = _populate(store)
    police = zephyrine(nhs_number=None, la_child_id=None)
    with sqlite3.connect(path) as db:
        sealed = db.execute(
            "SELECT fingerprint, match_row FROM records WHERE child_key = ?", (key,)
        ).fetchall()
    assert len(sealed) == 3

    assert store.erase_child(key) == [key]

    assert key not in [m.child_key for m in store.search(zephyrine(), limit=5)]
    with pytest.raises(ChildNotFound):
        store.keys_of(key)
    assert store.profiles([(key, dt.date(2026, 1, 1))]) == [None]
    assert store.reviews(status="decided", limit=10) == []  # the rationale named her
    assert store.observe_and_contexts([_observation("n-2", key)], [key])[key]["placing_la"] is None
    # The same identifiers again: a new child, under a new key (not the erased one).
    again = store.resolve("HEALTH", zephyrine())
    assert again not in (key, twin)
    assert store.resolve("POLICE", police) == again
    # The twin is untouched.
    assert store.keys_of(twin) == (twin, [twin])
    store.close()

    # What was sealed under the erased key opens under no key the store still holds.
    keys = ChildKeys(STORE_KEY, store="childindex")
    with sqlite3.connect(path) as db:
        held = db.execute("SELECT child_key, wrapped_key FROM child_keys").fetchall()
        assert key not in {k for k, _ in held}
        for table in ("records", "observations"):
            count = f"SELECT COUNT(*) FROM {table} WHERE child_key = ?"
            assert db.execute(count, (key,)).fetchone() == (0,)
    data_keys = [keys.unwrap(k, bytes(w)) for k, w in held]
    for fingerprint, blob in sealed:
        aad = f"safehub.childindex:records:{fingerprint}:match_row".encode()
        for data_key in data_keys:
            with pytest.raises(SealedValueUnreadable):
                open_sealed(data_key, bytes(blob), aad=aad)


def test_erasing_a_merged_child_erases_every_key_of_it(tmp_path: Path) -> None:
    store = _store(tmp_path / "index.sqlite")
    robin = store.resolve("POLICE", zephyrine(nhs_number=None, la_child_id=None))
    sam = store.resolve("HEALTH", zephyrine(given_name="Xanthe", nhs_number=None))
    (review,) = store.reviews(status="open", limit=10)
    store.decide(review["review_id"], same_child=True, decided_by="u-1", rationale="same")
    assert sorted(store.erase_child(sam)) == sorted([robin, sam])
    for gone in (robin, sam):
        with pytest.raises(ChildNotFound):
            store.keys_of(gone)
    with pytest.raises(ChildNotFound):
        store.erase_child(robin)


def _old_format_index(path: Path) -> None:
    """An index as the store wrote it before sealing: rows, evidence, blocking keys,
    observation bodies and rationales in clear, unkeyed fingerprints, user_version 0."""
    scorer = OnlineMatcher.load()
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA.split("CREATE TABLE IF NOT EXISTS child_keys")[0])
        db.execute("INSERT INTO children VALUES ('k-old', 1, NULL, '2026-01-01T00:00:00')")
        db.execute("INSERT INTO children VALUES ('k-other', 2, NULL, '2026-01-01T00:00:00')")
        for n, (agency, ids, key) in enumerate(
            [
                ("HEALTH", zephyrine(), "k-old"),
                ("HEALTH", zephyrine(given_name="Xanthe", nhs_number=None), "k-other"),
            ]
        ):
            evidence = ids.to_json()
            fingerprint = hashlib.sha256(
                json.dumps([agency, evidence], sort_keys=True).encode()
            ).hexdigest()
            row = _match_row(ids, fingerprint[:16])
            db.execute(
                "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, '2026-01-01T00:00:00')",
                (n + 1, key, agency, fingerprint, json.dumps(row), "d", json.dumps(evidence)),
            )
            db.executemany(
                "INSERT INTO blocking_keys VALUES (?, ?)",
                [(f"{rule}={value}", n + 1) for rule, value in scorer.blocking_keys(row)],
            )
        db.execute(
            "INSERT INTO reviews VALUES ('r-1', 'k-old', 'k-other', 0.8, 'not_same_child', "
            "'2026-01-01', 'u-1', '2026-01-02', ?)",
            (RATIONALE,),
        )
        db.execute(
            "INSERT INTO observations VALUES ('n-1', 'k-old', ?)",
            (json.dumps(_observation("n-1", "k-old")),),
        )


def test_an_index_written_before_sealing_is_sealed_on_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    _old_format_index(path)
    assert _leaks(path)  # the old file holds her in clear

    store = _store(path)
    assert _leaks(path) == []
    # Nothing about matching changed: the same record is the same record, and found.
    assert store.resolve("HEALTH", zephyrine()) == "k-old"
    assert store.resolve("POLICE", zephyrine(nhs_number=None, la_child_id=None)) == "k-old"
    assert store.search(zephyrine(nhs_number=None), limit=1)[0].child_key == "k-old"
    assert store.review("r-1")["rationale"] == RATIONALE
    assert store.observe_and_contexts([], ["k-old"])["k-old"]["placing_la"] == OBSERVED
    store.close()
    # Opening it again does not seal twice.
    assert _store(path).review("r-1")["rationale"] == RATIONALE
