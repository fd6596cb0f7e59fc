"""The register: reading plan changes from its feed, how they move a plan, how long a plan is
held."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from services.cpis.consumer import Withdrawal, plan_change_from_record
from services.cpis.domain.emergency import EmergencyRefusal
from services.cpis.domain.register import (
    Effect,
    Plan,
    PlanChange,
    PlanType,
    apply_change,
    held_plans,
    is_held,
    parse_plan_change,
    plan_after,
)
from services.cpis.errors import FeedItemUnusable
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from tests.cpis.factories import (
    LA,
    NHS_NUMBER,
    REGISTER,
    csc_notice,
    plan_change,
    register_feed_item,
    signed,
)
from tests.factories import FIXED_NOW, catalog

D = dt.date


def test_a_cp_plan_start_becomes_a_change_with_only_what_the_register_keeps() -> None:
    notice = csc_notice("CP_PLAN_STARTED", effective=D(2026, 11, 18))
    change = parse_plan_change(register_feed_item(notice), subscriber_id=REGISTER)
    assert change.plan_type is PlanType.CHILD_PROTECTION_PLAN
    assert change.starts
    assert change.nhs_number == NHS_NUMBER
    assert change.responsible_la == LA
    assert change.effective_date == D(2026, 11, 18)
    assert change.la_contact == (
        "Duty social worker, Synthetic Borough Children's Services, 0300 000 0004"
    )
    assert change.notice_id == notice["notice_id"]
    # The CP category is in the view but never kept, nor is anything else.
    kept = {f.name for f in dataclasses.fields(change)}
    assert "cp_category" not in kept
    assert "NEG" not in repr(change)


def test_a_wider_view_does_not_make_the_register_hold_more() -> None:
    notice = csc_notice()
    wide = register_feed_item(
        notice,
        view=(
            "notice_id",
            "notice_type",
            "created_at",
            "subject",
            "detail",
            "contact_point",
            "narrative",
        ),
    )
    change = parse_plan_change(wide, subscriber_id=REGISTER)
    assert notice["subject"]["given_name"] not in repr(change)
    assert "Synthetic summary" not in repr(change)


@pytest.mark.parametrize(
    ("change", "plan_type", "starts"),
    [
        ("CP_PLAN_ENDED", PlanType.CHILD_PROTECTION_PLAN, False),
        ("LOOKED_AFTER_STARTED", PlanType.LOOKED_AFTER, True),
        ("LOOKED_AFTER_ENDED", PlanType.LOOKED_AFTER, False),
    ],
)
def test_every_register_change_is_read(change: str, plan_type: PlanType, starts: bool) -> None:
    parsed = parse_plan_change(register_feed_item(csc_notice(change)), subscriber_id=REGISTER)
    assert (parsed.plan_type, parsed.starts) == (plan_type, starts)


@pytest.mark.parametrize(
    ("notice_kwargs", "code"),
    [
        ({"change": "S47_ENQUIRY_STARTED"}, "not_a_plan_change"),
        ({"nhs_number": None}, "no_nhs_number"),
        ({"nhs_number": "9990000019"}, "nhs_number_invalid"),
        ({"responsible_la": None}, "no_responsible_la"),
    ],
)
def test_items_the_register_cannot_hold_are_unusable_with_a_reason(
    notice_kwargs: dict[str, object], code: str
) -> None:
    item = register_feed_item(csc_notice(**notice_kwargs))  # type: ignore[arg-type]
    with pytest.raises(FeedItemUnusable) as unusable:
        parse_plan_change(item, subscriber_id=REGISTER)
    assert unusable.value.code == code


def test_a_start_without_the_la_contact_is_unusable() -> None:
    item = register_feed_item(csc_notice())
    view = json.loads(item["view_json"])
    del view["contact_point"]
    item["view_json"] = json.dumps(view)
    with pytest.raises(FeedItemUnusable, match="contact point"):
        parse_plan_change(item, subscriber_id=REGISTER)


def test_an_item_for_another_subscriber_or_of_another_type_is_unusable() -> None:
    item = register_feed_item(csc_notice(), subscriber_id="responsible-la")
    with pytest.raises(FeedItemUnusable, match="another subscriber"):
        parse_plan_change(item, subscriber_id=REGISTER)
    other = {**register_feed_item(csc_notice()), "notice_type": "MISSING_EPISODE"}
    with pytest.raises(FeedItemUnusable, match="CSC_STATUS_CHANGE"):
        parse_plan_change(other, subscriber_id=REGISTER)


def test_only_items_signed_by_the_hub_are_read() -> None:
    hub, adapter = SigningKey.generate("gateway"), SigningKey.generate("adapter-health")
    keys = KeyDirectory.of([hub, adapter])
    cat = catalog()
    item = register_feed_item(csc_notice())
    change = plan_change_from_record(
        signed(cat, hub, item), catalog=cat, hub_keys=keys, subscriber_id=REGISTER
    )
    assert isinstance(change, PlanChange)
    assert change.nhs_number == NHS_NUMBER
    with pytest.raises(FeedItemUnusable) as forged:
        plan_change_from_record(
            signed(cat, adapter, item), catalog=cat, hub_keys=keys, subscriber_id=REGISTER
        )
    assert forged.value.code == "not_signed_by_hub"
    with pytest.raises(FeedItemUnusable) as junk:
        plan_change_from_record(b"junk", catalog=cat, hub_keys=keys, subscriber_id=REGISTER)
    assert junk.value.code == "unverifiable"


# --- transitions ---------------------------------------------------------------------------


JAN_10 = D(2026, 1, 10)


def _started(day: D = JAN_10) -> Plan:
    transition = apply_change(None, plan_change(effective=day))
    assert transition.plan is not None
    return transition.plan


def test_a_start_opens_a_plan() -> None:
    transition = apply_change(None, plan_change(effective=D(2026, 1, 10)))
    assert transition.effect is Effect.STARTED
    assert transition.plan is not None
    assert (transition.plan.start, transition.plan.end) == (D(2026, 1, 10), None)
    assert transition.plan.is_open


def test_an_end_ends_the_held_plan() -> None:
    transition = apply_change(_started(), plan_change(starts=False, effective=D(2026, 5, 1)))
    assert transition.effect is Effect.ENDED
    assert transition.plan is not None
    assert transition.plan.end == D(2026, 5, 1)
    assert transition.plan.la_contact.startswith("Duty social worker")


def test_an_end_for_a_plan_never_seen_changes_nothing() -> None:
    transition = apply_change(None, plan_change(starts=False))
    assert (transition.effect, transition.plan) == (Effect.NOTHING_TO_END, None)


def test_an_end_before_the_held_plan_started_is_an_earlier_episode() -> None:
    plan = _started(D(2026, 3, 1))
    earlier_end = plan_change(
        starts=False, effective=D(2026, 2, 1), recorded_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    )
    transition = apply_change(plan, earlier_end)
    assert (transition.effect, transition.plan) == (Effect.NOTHING_TO_END, plan)


def test_a_late_backfilled_start_does_not_reopen_an_ended_plan() -> None:
    ended = apply_change(_started(), plan_change(starts=False, effective=D(2026, 5, 1))).plan
    assert ended is not None
    late = plan_change(
        effective=D(2026, 1, 10), recorded_at=dt.datetime(2026, 1, 10, 8, 0, tzinfo=dt.UTC)
    )
    transition = apply_change(ended, late)
    assert (transition.effect, transition.plan) == (Effect.STALE, ended)


def test_a_corrected_start_of_an_ended_plan_keeps_it_ended() -> None:
    ended = apply_change(_started(), plan_change(starts=False, effective=D(2026, 5, 1))).plan
    assert ended is not None
    correction = plan_change(
        effective=D(2026, 1, 5), recorded_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    )
    transition = apply_change(ended, correction)
    assert transition.effect is Effect.START_CORRECTED
    assert transition.plan is not None
    assert (transition.plan.start, transition.plan.end) == (D(2026, 1, 5), D(2026, 5, 1))


def test_a_start_after_an_end_is_a_new_open_episode() -> None:
    ended = apply_change(_started(), plan_change(starts=False, effective=D(2026, 5, 1))).plan
    transition = apply_change(ended, plan_change(effective=D(2026, 9, 1)))
    assert transition.effect is Effect.STARTED
    assert transition.plan is not None
    assert (transition.plan.start, transition.plan.end) == (D(2026, 9, 1), None)


def test_a_restated_start_updates_the_owning_la() -> None:
    moved = plan_change(effective=D(2026, 1, 20), responsible_la="LA-E09000098")
    transition = apply_change(_started(), moved)
    assert transition.plan is not None
    assert transition.plan.responsible_la == "LA-E09000098"


# --- how long a plan is held -----------------------------------------------------------------


def test_an_open_plan_is_held_and_an_ended_one_for_twelve_months() -> None:
    plan = _started(D(2020, 1, 1))
    assert is_held(plan, today=D(2030, 1, 1))
    ended = dataclasses.replace(plan, end=D(2026, 1, 1))
    assert is_held(ended, today=D(2027, 1, 1))  # 365 days after the end: still held
    assert not is_held(ended, today=D(2027, 1, 2))
    assert not is_held(ended, today=D(2026, 2, 1), held_days=30)


def test_held_plans_list_open_plans_first_then_the_newest() -> None:
    old_cp = dataclasses.replace(_started(D(2025, 1, 1)), end=D(2026, 3, 1))
    looked_after = dataclasses.replace(_started(D(2026, 2, 1)), plan_type=PlanType.LOOKED_AFTER)
    expired = dataclasses.replace(_started(D(2020, 1, 1)), end=D(2021, 1, 1))
    held = held_plans([old_cp, expired, looked_after], today=D(2026, 6, 1))
    assert held == (looked_after, old_cp)


def test_a_hub_signed_withdrawal_for_the_register_is_read_as_one() -> None:
    hub, adapter = SigningKey.generate("gateway"), SigningKey.generate("adapter-csc")
    keys = KeyDirectory.of([hub, adapter])
    cat = catalog()
    withdrawal = {
        "retraction_id": "0b9c1f0e-5a0b-5c6d-8e0f-000000000001",
        "notice_id": "n-7",
        "decision_id": "d-7",
        "subscriber_id": REGISTER,
        "subject_linkage_key": "k" * 64,
        "source_agency": "CHILDRENS_SERVICES",
        "reason": "WRONG_CHILD",
        "replaced_by_notice_id": None,
        "retracted_at": FIXED_NOW,
        "delivered_at": FIXED_NOW,
    }

    def sealed(key: SigningKey, record: dict[str, Any]) -> bytes:
        return seal(cat, cat.encode(MessageType.FEED_RETRACTION, record), key, FIXED_NOW)

    read = plan_change_from_record(
        sealed(hub, withdrawal), catalog=cat, hub_keys=keys, subscriber_id=REGISTER
    )
    assert read == Withdrawal(notice_id="n-7")
    with pytest.raises(FeedItemUnusable) as forged:
        plan_change_from_record(
            sealed(adapter, withdrawal), catalog=cat, hub_keys=keys, subscriber_id=REGISTER
        )
    assert forged.value.code == "not_signed_by_hub"
    with pytest.raises(FeedItemUnusable) as elsewhere:
        plan_change_from_record(
            sealed(hub, {**withdrawal, "subscriber_id": "mash-manager"}),
            catalog=cat,
            hub_keys=keys,
            subscriber_id=REGISTER,
        )
    assert elsewhere.value.code == "wrong_subscriber"


def test_an_emergency_access_refusal_on_the_register_feed_is_an_answer_not_a_plan_change() -> None:
    hub = SigningKey.generate("gateway")
    keys = KeyDirectory.of([hub])
    cat = catalog()
    refusal = {
        "request_id": "0b9c1f0e-5a0b-5c6d-8e0f-000000000002",
        "decision_id": "d-8",
        "notice_id": "n-8",
        "subscriber_id": REGISTER,
        "subject_linkage_key": "k" * 64,
        "requester_subject": "synthetic-subject-0001",
        "requested_paths": ["detail.plan_category"],
        "reason_code": "BREAK_GLASS_REFUSED",
        "explanation": "your role may not use emergency access",
        "refused_at": FIXED_NOW,
    }
    value = seal(cat, cat.encode(MessageType.BREAK_GLASS_REFUSAL, refusal), hub, FIXED_NOW)
    answer = plan_change_from_record(value, catalog=cat, hub_keys=keys, subscriber_id=REGISTER)
    # Kept apart from the plans, for the clinician who asked (issue 18).
    assert answer == EmergencyRefusal(
        request_id=str(refusal["request_id"]),
        explanation="your role may not use emergency access",
        refused_at=FIXED_NOW,
    )


def test_a_withdrawn_change_is_taken_out_of_the_plans_history() -> None:
    start = plan_change(notice_id="s", effective=JAN_10)
    end = plan_change(notice_id="e", starts=False, effective=dt.date(2026, 3, 1))
    restart = plan_change(notice_id="r", effective=dt.date(2026, 5, 1))
    assert (
        plan_after([start, end, restart])
        == apply_change(apply_change(apply_change(None, start).plan, end).plan, restart).plan
    )
    reopened = plan_after([start])
    assert reopened is not None
    assert reopened.is_open
    assert plan_after([end]) is None
    assert plan_after([]) is None
