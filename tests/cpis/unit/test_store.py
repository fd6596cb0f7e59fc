"""The register's SQLite store: sealed personal data, idempotent feed application, accesses,
the notification outbox, the holding period and erasure."""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from pathlib import Path

import pytest

from services.cpis.domain.access import Access, AccessOutcome
from services.cpis.domain.register import Effect, PlanType
from services.cpis.domain.requests import UnscheduledSetting
from services.cpis.errors import StoreError
from services.cpis.store import SqliteRegisterStore
from services.hubkit.child_keys import ChildKeys, load_or_create_store_key
from services.hubkit.errors import StoreKeyInvalid
from tests.cpis.factories import NHS_NUMBER, plan_change

AT = dt.datetime(2026, 11, 20, 22, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> SqliteRegisterStore:
    return SqliteRegisterStore(
        tmp_path / "register.db",
        ChildKeys(load_or_create_store_key(tmp_path / "store.key"), store="cpis"),
    )


def _access(outcome: AccessOutcome = AccessOutcome.HIT, *, at: dt.datetime = AT) -> Access:
    return Access(
        access_id=secrets.token_hex(8),
        at=at,
        actor="clinician-subject",
        organisation="NHS-RXX00",
        setting=UnscheduledSetting.ED,
        outcome=outcome,
    )


def _tables(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: db.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}


def test_a_change_is_applied_once_per_notice_id(store: SqliteRegisterStore) -> None:
    assert store.apply(plan_change(notice_id="n-1"), now_ms=1) is Effect.STARTED
    assert store.apply(plan_change(notice_id="n-1"), now_ms=2) is None
    (plan,) = store.plans(NHS_NUMBER)
    assert plan.is_open


def test_plan_types_are_kept_apart(store: SqliteRegisterStore) -> None:
    store.apply(plan_change(notice_id="cp"), now_ms=1)
    store.apply(plan_change(notice_id="la", plan_type=PlanType.LOOKED_AFTER), now_ms=1)
    ended = plan_change(
        notice_id="la-end",
        starts=False,
        plan_type=PlanType.LOOKED_AFTER,
        effective=dt.date(2026, 8, 1),
    )
    assert store.apply(ended, now_ms=2) is Effect.ENDED
    plans = {p.plan_type: p for p in store.plans(NHS_NUMBER)}
    assert plans[PlanType.CHILD_PROTECTION_PLAN].is_open
    assert plans[PlanType.LOOKED_AFTER].end == dt.date(2026, 8, 1)


def test_an_end_never_seen_started_leaves_nothing_behind(
    store: SqliteRegisterStore, tmp_path: Path
) -> None:
    assert store.apply(plan_change(starts=False), now_ms=1) is Effect.NOTHING_TO_END
    assert store.plans(NHS_NUMBER) == []
    assert _tables(tmp_path / "register.db")["child_keys"] == 0


def test_personal_data_never_reaches_the_file_in_clear(
    store: SqliteRegisterStore, tmp_path: Path
) -> None:
    store.apply(plan_change(), now_ms=1)
    store.record_access(_access(), nhs_number=NHS_NUMBER, outbox=[("n-9", b"notice bytes")])
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("register.db*"))
    for secret in (NHS_NUMBER, "k" * 64, "Duty social worker", "notice bytes"):
        assert secret.encode() not in raw


def test_another_store_key_cannot_read_the_register(
    store: SqliteRegisterStore, tmp_path: Path
) -> None:
    store.apply(plan_change(), now_ms=1)
    store.close()
    other = SqliteRegisterStore(
        tmp_path / "register.db", ChildKeys(secrets.token_bytes(32), store="cpis")
    )
    assert other.plans(NHS_NUMBER) == []  # the child reference does not even match
    with pytest.raises(StoreKeyInvalid):
        ChildKeys(b"short", store="cpis")


def test_a_sealed_value_does_not_open_under_another_childs_key(
    store: SqliteRegisterStore, tmp_path: Path
) -> None:
    store.apply(plan_change(notice_id="a"), now_ms=1)
    store.apply(plan_change(notice_id="b", nhs_number="9434765919"), now_ms=1)
    store.close()
    keys = ChildKeys(load_or_create_store_key(tmp_path / "store.key"), store="cpis")
    mine, theirs = keys.child_ref("nhs", NHS_NUMBER), keys.child_ref("nhs", "9434765919")
    with sqlite3.connect(tmp_path / "register.db") as db:
        sealed = db.execute("SELECT sealed FROM plans WHERE child_ref = ?", (theirs,)).fetchone()
        db.execute("UPDATE plans SET sealed = ? WHERE child_ref = ?", (sealed[0], mine))
    reopened = SqliteRegisterStore(tmp_path / "register.db", keys)
    assert len(reopened.plans("9434765919")) == 1
    with pytest.raises(StoreError, match="does not open"):
        reopened.plans(NHS_NUMBER)


def test_accesses_history_and_outbox(store: SqliteRegisterStore, tmp_path: Path) -> None:
    store.apply(plan_change(), now_ms=1)
    store.record_access(_access(), nhs_number=NHS_NUMBER, outbox=[("n-1", b"one")])
    store.record_access(
        _access(at=AT + dt.timedelta(minutes=5)), nhs_number=NHS_NUMBER, outbox=[("n-2", b"two")]
    )
    store.record_access(_access(AccessOutcome.MISS), nhs_number=None)
    history = store.access_history(NHS_NUMBER, limit=25)
    assert [h[0] for h in history] == [AT + dt.timedelta(minutes=5), AT]
    assert history[0][1:] == ("ED", "NHS-RXX00")
    assert store.pending_notifications(limit=10) == [("n-1", b"one"), ("n-2", b"two")]
    store.notification_failed("n-1")
    store.notification_sent("n-1")
    assert store.pending_notifications(limit=10) == [("n-2", b"two")]
    with sqlite3.connect(tmp_path / "register.db") as db:
        (miss_ref,) = db.execute("SELECT child_ref FROM accesses WHERE outcome = 'MISS'").fetchone()
    assert miss_ref is None


def test_only_a_hit_is_recorded_against_a_child(store: SqliteRegisterStore) -> None:
    with pytest.raises(ValueError, match="HIT"):
        store.record_access(_access(AccessOutcome.MISS), nhs_number=NHS_NUMBER)
    with pytest.raises(ValueError, match="HIT"):
        store.record_access(_access(AccessOutcome.HIT), nhs_number=None)


def test_plans_past_the_holding_period_are_erased_with_their_accesses(
    store: SqliteRegisterStore, tmp_path: Path
) -> None:
    store.apply(plan_change(notice_id="s", effective=dt.date(2024, 1, 1)), now_ms=1)
    store.apply(plan_change(notice_id="e", starts=False, effective=dt.date(2025, 1, 1)), now_ms=1)
    store.record_access(_access(), nhs_number=NHS_NUMBER)
    other = "9434765919"
    store.apply(plan_change(notice_id="o", nhs_number=other), now_ms=1)
    assert store.purge(today=dt.date(2026, 1, 1), held_days=365) == 0  # 365 days: still held
    assert store.purge(today=dt.date(2026, 1, 2), held_days=365) == 1
    assert store.plans(NHS_NUMBER) == []
    assert store.access_history(NHS_NUMBER, limit=25) == []
    assert len(store.plans(other)) == 1
    assert _tables(tmp_path / "register.db")["child_keys"] == 1


def test_erasure_removes_everything_about_one_child(
    store: SqliteRegisterStore, tmp_path: Path
) -> None:
    store.apply(plan_change(), now_ms=1)
    store.record_access(_access(), nhs_number=NHS_NUMBER, outbox=[("n-1", b"x")])
    store.erase(NHS_NUMBER)
    counts = _tables(tmp_path / "register.db")
    assert counts["plans"] == counts["child_keys"] == counts["outbox"] == counts["accesses"] == 0
    assert counts["applied_notices"] == 1  # ids only: a replayed feed does not bring it back


def test_the_store_key_is_created_private_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "cpis" / "store.key"
    key = load_or_create_store_key(path)
    assert len(key) == 32
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_or_create_store_key(path) == key
    path.write_bytes(b"short")
    with pytest.raises(StoreKeyInvalid, match="32-byte"):
        load_or_create_store_key(path)


def test_the_feed_position_moves_with_what_was_read(store: SqliteRegisterStore) -> None:
    topic = "feed.cpis-register.v1"
    assert store.feed_positions(topic) == {}
    store.apply(plan_change(notice_id="a"), now_ms=1, position=(topic, 2, 8))
    store.advance((topic, 0, 4))  # a skipped record
    store.apply(plan_change(notice_id="a"), now_ms=1, position=(topic, 2, 5))  # a replay
    assert store.feed_positions(topic) == {0: 4, 2: 8}  # never moves back
    store.erase(NHS_NUMBER)
    assert store.feed_positions(topic) == {0: 4, 2: 8}


# --- withdrawn notices (issue 18) ----------------------------------------------------------


def test_a_plan_started_for_the_wrong_child_is_no_longer_held_once_withdrawn(
    store: SqliteRegisterStore, tmp_path: Path
) -> None:
    topic = "feed.cpis-register.v1"
    store.apply(plan_change(notice_id="wrong-child"), now_ms=1)
    assert len(store.plans(NHS_NUMBER)) == 1
    assert store.withdraw("wrong-child", position=(topic, 0, 7)) is Effect.WITHDRAWN
    assert store.plans(NHS_NUMBER) == []
    assert store.feed_positions(topic) == {0: 7}
    # A replayed copy of the withdrawn notice does not bring the plan back.
    assert store.apply(plan_change(notice_id="wrong-child"), now_ms=2) is None
    assert store.plans(NHS_NUMBER) == []
    assert store.withdraw("never-applied") is None


def test_a_plan_ended_in_error_is_open_again_once_the_end_is_withdrawn(
    store: SqliteRegisterStore,
) -> None:
    store.apply(plan_change(notice_id="start", effective=dt.date(2026, 1, 10)), now_ms=1)
    end = plan_change(notice_id="end", starts=False, effective=dt.date(2026, 6, 1))
    assert store.apply(end, now_ms=2) is Effect.ENDED
    assert store.withdraw("end") is Effect.WITHDRAWN
    (plan,) = store.plans(NHS_NUMBER)
    assert plan.is_open
    assert plan.start == dt.date(2026, 1, 10)


def test_withdrawing_one_episode_keeps_the_others(store: SqliteRegisterStore) -> None:
    store.apply(plan_change(notice_id="s1", effective=dt.date(2025, 1, 1)), now_ms=1)
    store.apply(plan_change(notice_id="e1", starts=False, effective=dt.date(2025, 6, 1)), now_ms=2)
    store.apply(plan_change(notice_id="s2", effective=dt.date(2026, 2, 1)), now_ms=3)
    store.apply(plan_change(notice_id="la", plan_type=PlanType.LOOKED_AFTER), now_ms=4)
    assert store.withdraw("s2") is Effect.WITHDRAWN
    plans = {p.plan_type: p for p in store.plans(NHS_NUMBER)}
    assert plans[PlanType.CHILD_PROTECTION_PLAN].end == dt.date(2025, 6, 1)
    assert plans[PlanType.LOOKED_AFTER].is_open


def test_a_plans_history_is_sealed_and_goes_with_erasure(
    store: SqliteRegisterStore, tmp_path: Path
) -> None:
    store.apply(plan_change(notice_id="a"), now_ms=1)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("register.db*"))
    assert NHS_NUMBER.encode() not in raw
    reopened = SqliteRegisterStore(
        tmp_path / "register.db",
        ChildKeys(load_or_create_store_key(tmp_path / "store.key"), store="cpis"),
    )
    reopened.erase(NHS_NUMBER)
    assert _tables(tmp_path / "register.db")["plan_changes"] == 0
    assert reopened.withdraw("a") is None
