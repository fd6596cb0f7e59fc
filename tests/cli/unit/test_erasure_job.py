"""The erasure job's pure planning (hubkit/erasure_plan.py) and its order of calls
(cli/erasure_job.py perform_erasure) with hand-written fakes: holds drop what they cover and
say which hold, anchors the hub does not hold are listed and never dated, entries start
unapproved, only approved entries are run, phases go intent -> erase -> deletion -> readable?
-> confirmation, a failure stops the child with the intent logged, and a re-run resumes."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from pathlib import Path

import pytest

from services.cli.erasure_job import ErasureStopped, PhaseAnswer, perform_erasure
from services.hubkit.erasure_plan import (
    NOT_KNOWN,
    DueRow,
    ReviewEntry,
    ReviewInvalid,
    approved_entries,
    birth_anchored_due,
    plan_review,
)
from services.hubkit.retention import RetentionRules

POLICIES = Path(__file__).resolve().parents[3] / "policies"
HELD_CHILD = "5f0c2d9e8b7a41c3a6e2f1d0b9c8a7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5"  # HOLD-2026-001
ROBIN, SAM = "a" * 64, "b" * 64
TODAY = dt.date(2040, 1, 1)


@pytest.fixture(scope="module")
def rules() -> RetentionRules:
    return RetentionRules.load(POLICIES)


def _ids() -> itertools.count[int]:
    return itertools.count(1)


def test_due_rows_come_from_birth_dates_only(rules: RetentionRules) -> None:
    rows, undated = birth_anchored_due(
        rules,
        [(ROBIN, dt.date(2012, 5, 17)), (SAM, dt.date(2030, 1, 2)), ("c" * 64, None)],
        today=TODAY,
    )
    assert undated == 1
    assert {(r.child_key, r.record_type, r.due_on) for r in rows} == {
        (ROBIN, "CHILD_PROTECTION_RECORD", dt.date(2037, 5, 17)),
        (ROBIN, "CHILD_HEALTH_RECORD", dt.date(2038, 5, 17)),  # the longer period
    }


def test_review_drops_held_lists_unknown_anchors_and_approves_nothing(
    rules: RetentionRules,
) -> None:
    rows = [
        DueRow(ROBIN, "CHILD_PROTECTION_RECORD", dt.date(2037, 5, 17)),
        DueRow(HELD_CHILD, "CHILD_PROTECTION_RECORD", dt.date(2030, 1, 1)),
    ]
    ids = _ids()
    review = plan_review(
        rules, rows, today=TODAY, undated_children=0, new_id=lambda: f"e{next(ids)}"
    )
    (entry,) = review.entries
    assert (entry.child_key, entry.approve, entry.erasure_id) == (ROBIN, False, "e1")
    assert entry.stores == rules.record_types["CHILD_PROTECTION_RECORD"].stores
    # The looked-after record shares the stores and is not due: the officer is warned.
    assert any(
        w.startswith("LOOKED_AFTER_CHILD_CASE_RECORD is not due yet") for w in entry.warnings
    )
    assert any(
        "MASH_CONTACT_RECORD is counted from the date the case closed" in w for w in entry.warnings
    )
    (held,) = review.held
    assert (held.child_key, held.hold_id) == (HELD_CHILD, "HOLD-2026-001")
    unknown = {u.record_type: u.why for u in review.not_known}
    assert set(unknown) == {"MASH_CONTACT_RECORD", "AUDIT_RECORD"}
    assert all(NOT_KNOWN in why for why in unknown.values())
    as_json = review.to_json()
    assert [e["approve"] for e in as_json["entries"]] == [False]
    assert approved_entries(as_json, rules) == []


def test_only_approved_entries_run_with_the_rules_stores(rules: RetentionRules) -> None:
    rows = [
        DueRow(ROBIN, "CHILD_PROTECTION_RECORD", dt.date(2037, 5, 17)),
        DueRow(SAM, "CHILD_HEALTH_RECORD", dt.date(2038, 5, 17)),
    ]
    ids = _ids()
    raw = plan_review(
        rules, rows, today=TODAY, undated_children=0, new_id=lambda: f"e{next(ids)}"
    ).to_json()
    raw["entries"][1]["approve"] = True
    raw["entries"][1]["stores"] = ["child_index"]  # an edit cannot change what is erased
    (entry,) = approved_entries(raw, rules)
    assert (entry.child_key, entry.stores) == (SAM, ("console_projection", "audit_index"))
    raw["entries"][0]["approve"] = "yes"
    with pytest.raises(ReviewInvalid, match=r"entries\[0\].approve"):
        approved_entries(raw, rules)
    raw["entries"][0].update(approve=True, child_key=HELD_CHILD)
    with pytest.raises(ReviewInvalid, match="HOLD-2026-001"):
        approved_entries(raw, rules)


class FakeStore:
    def __init__(self, name: str, log: list[str], *, sticky: bool = False) -> None:
        self.name, self.log, self.sticky = name, log, sticky
        self.held = {ROBIN, SAM}

    async def erase(self, child_key: str) -> int:
        self.log.append(f"erase {self.name}")
        if child_key not in self.held:
            return 0
        if not self.sticky:
            self.held.discard(child_key)
        return 1

    async def readable(self, child_key: str) -> bool:
        self.log.append(f"readable {self.name}")
        return child_key in self.held


class FakeAudit:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.phases: dict[str, list[str]] = {}

    def _record(self, erasure_id: str, phase: str) -> PhaseAnswer:
        self.log.append(phase)
        logged = self.phases.setdefault(erasure_id, [])
        if phase in logged:
            return "already recorded"
        logged.append(phase)
        return "recorded"

    async def intent(self, entry: ReviewEntry, *, approved_by: str) -> PhaseAnswer:
        return self._record(entry.erasure_id, "intent")

    async def deletion(self, entry: ReviewEntry, stores: Mapping[str, int]) -> PhaseAnswer:
        return self._record(entry.erasure_id, "deletion")

    async def confirmation(self, entry: ReviewEntry, stores: Mapping[str, str]) -> PhaseAnswer:
        return self._record(entry.erasure_id, "confirmation")


def _entry(stores: tuple[str, ...]) -> ReviewEntry:
    return ReviewEntry(
        erasure_id="e1",
        child_key=ROBIN,
        record_type="CHILD_PROTECTION_RECORD",
        label="",
        rule="",
        legal_basis="",
        due_on=dt.date(2037, 5, 17),
        stores=stores,
        warnings=(),
        approve=True,
    )


async def test_phases_in_order_and_a_rerun_resumes() -> None:
    log: list[str] = []
    stores = {
        "child_index": FakeStore("child_index", log),
        "console_projection": FakeStore("console_projection", log),
    }
    audit = FakeAudit(log)
    entry = _entry(("console_projection", "child_index", "audit_index"))
    await perform_erasure(entry, approved_by="IG", stores=stores, audit=audit)
    assert log == [
        "intent",
        "erase console_projection",
        "erase child_index",
        "deletion",
        "readable console_projection",
        "readable child_index",
        "confirmation",
    ]
    assert audit.phases["e1"] == ["intent", "deletion", "confirmation"]
    assert SAM in stores["child_index"].held  # the other child untouched
    done = await perform_erasure(entry, approved_by="IG", stores=stores, audit=audit)
    assert done[0] == "intent: already recorded"
    assert audit.phases["e1"] == ["intent", "deletion", "confirmation"]


async def test_still_readable_stops_before_confirmation() -> None:
    log: list[str] = []
    stores = {"child_index": FakeStore("child_index", log, sticky=True)}
    audit = FakeAudit(log)
    with pytest.raises(ErasureStopped, match="still readable in child_index"):
        await perform_erasure(
            _entry(("child_index",)), approved_by="IG", stores=stores, audit=audit
        )
    assert audit.phases["e1"] == ["intent", "deletion"]


async def test_a_store_the_job_cannot_reach_stops_before_the_intent() -> None:
    log: list[str] = []
    audit = FakeAudit(log)
    with pytest.raises(ErasureStopped, match="no console_projection is configured"):
        await perform_erasure(
            _entry(("console_projection", "audit_index")), approved_by="IG", stores={}, audit=audit
        )
    assert log == []
