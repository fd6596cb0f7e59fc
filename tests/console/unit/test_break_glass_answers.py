"""The hub's other answers about emergency access in the console (issue 18), pure core and
store: a refusal ends the wait and is told to the person who asked only; an owner's alert is
listed for its alert desk (role and desk, never a name); the emergency panel carries the desk
item's marking and handling caveat; both answers are sealed under the child's key (the file's
bytes are searched), read again after a restart, and erased with the child; the feed
follower keeps them apart from the desk's items."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from services.console.break_glass import BreakGlassGrants
from services.console.domain.break_glass import emergency_panel, grant_from_feed_item
from services.console.domain.break_glass_answers import (
    alert_from_feed,
    alert_views,
    refusal_for_viewer,
    refusal_from_feed,
)
from services.console.domain.projection import FeedProjection
from services.console.domain.views.sharing import handling_conditions
from services.console.errors import FeedItemInvalid
from services.console.feeds import FeedFollower
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.settings import REPO_ROOT, HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from services.hubkit.topology import GATEWAY_PRINCIPAL
from tests.console.app_fakes import TOPOLOGY
from tests.console.break_glass_items import RULES, alert_record, grant_item, refusal_record
from tests.console.factories import CHILD, NOW, STORE_KEYS, entry

CATALOG = SchemaCatalog(REPO_ROOT / "schemas" / "avro")
DESK_ITEM = entry(withheld=("narrative.full_account", "detail.source_details"))
ALERT_DESK = "mash-police-researcher"  # the owning agency's (POLICE) desk in these tests
UNTIL = NOW + dt.timedelta(hours=RULES.grant_hours)
GRADED = {
    "classification": "OFFICIAL_SENSITIVE",
    "intelligence_grading": {
        "scheme": "GRADING_3X5X2",
        "source_evaluation": "2",
        "intelligence_assessment": "B",
        "handling_code": "C",
        "dissemination_authorisation": None,
    },
}


def _refusal(subject: str = "u-manager", at: dt.datetime = NOW, **kw: Any) -> dict[str, Any]:
    return refusal_record(
        DESK_ITEM, request_id=str(uuid.uuid4()), requester_subject=subject, refused_at=at, **kw
    )


def test_a_refusal_and_an_alert_are_read_from_their_records() -> None:
    record = _refusal(explanation="Only a MASH manager may ask.")
    refusal = refusal_from_feed(record)
    assert (refusal.notice_id, refusal.requester_subject) == (DESK_ITEM.notice_id, "u-manager")
    assert refusal.explanation == "Only a MASH manager may ask."
    assert refusal.refused_at == NOW
    alert = alert_from_feed(alert_record(DESK_ITEM, alert_desk=ALERT_DESK, granted_at=NOW))
    assert alert.subscriber_id == ALERT_DESK
    assert alert.granted_to_subscriber_id == DESK_ITEM.subscriber_id
    assert alert.expires_at == UNTIL
    assert alert.source_reference == "SYN-REF-0042"


@pytest.mark.parametrize("missing", ["request_id", "explanation", "refused_at"])
def test_a_malformed_refusal_is_refused(missing: str) -> None:
    record = _refusal()
    del record[missing]
    with pytest.raises(FeedItemInvalid):
        refusal_from_feed(record)


def test_a_malformed_alert_is_refused() -> None:
    record = alert_record(DESK_ITEM, alert_desk=ALERT_DESK, granted_at=NOW)
    record["alert_id"] = "not a uuid"
    with pytest.raises(FeedItemInvalid):
        alert_from_feed(record)


def test_a_refusal_is_told_to_who_asked_only_and_ends_the_wait() -> None:
    mine = refusal_from_feed(_refusal(at=NOW))
    colleague = refusal_from_feed(_refusal("u-dana", at=NOW + dt.timedelta(minutes=5)))
    assert refusal_for_viewer([mine, colleague], subject="u-manager") == mine
    assert refusal_for_viewer([mine], subject="u-dana") is None
    later = NOW + dt.timedelta(minutes=30)
    panel = emergency_panel(
        grant=None, asked_at=None, offer=None, rules=RULES, now=later, refusal=mine
    )
    assert panel is not None
    assert panel.state == "refused"
    assert panel.refused_text is not None
    assert panel.refused_text.startswith("Your emergency access request of 10:00 today")
    assert panel.refused_text.endswith(f"was refused: {mine.explanation}")
    # A newer request, not yet answered, is what the panel says.
    waiting = emergency_panel(
        grant=None, asked_at=later, offer=None, rules=RULES, now=later, refusal=mine
    )
    assert waiting is not None
    assert waiting.state == "waiting"


def test_the_panel_warns_as_much_as_the_desks_item_page() -> None:
    desk = entry(
        notice_type="POLICE_INTELLIGENCE",
        withheld=("narrative.full_account",),
        extra=GRADED,
    )
    grant = grant_from_feed_item(
        grant_item(
            desk,
            requester_subject="u-manager",
            granted_view={"narrative": {"full_account": "Synthetic account."}},
            expires_at=UNTIL,
        )
    )
    panel = emergency_panel(
        grant=grant, asked_at=None, offer=None, rules=RULES, now=NOW, desk_entry=desk
    )
    assert panel is not None
    assert panel.state == "running"
    assert panel.marking is not None
    assert panel.marking.text == "OFFICIAL-SENSITIVE"
    assert panel.handling == handling_conditions(desk.view)
    assert panel.handling is not None
    assert "code C" in panel.handling
    # Without the desk's item, the grant's own view (no marking in it) warns of nothing.
    bare = emergency_panel(grant=grant, asked_at=None, offer=None, rules=RULES, now=NOW)
    assert bare is not None
    assert (bare.marking, bare.handling) == (None, None)


@pytest.mark.parametrize(
    ("scheme", "code", "words"),
    [
        ("GRADING_3X5X2", "P", "lawful sharing is permitted"),
        ("GRADING_3X5X2", "C", "conditions"),
        ("LEGACY_5X5X5", "4", "originating force only"),
        ("LEGACY_5X5X5", "9", "ask the police contact"),
    ],
)
def test_handling_conditions_in_words(scheme: str, code: str, words: str) -> None:
    view = {"intelligence_grading": {"scheme": scheme, "handling_code": code}}
    text = handling_conditions(view)
    assert text is not None
    assert words in text
    assert handling_conditions({"classification": "OFFICIAL"}) is None


def test_the_alert_list_names_role_and_desk_never_a_person() -> None:
    older = alert_from_feed(
        alert_record(DESK_ITEM, alert_desk=ALERT_DESK, granted_at=NOW, source_reference=None)
    )
    newer = alert_from_feed(
        alert_record(
            DESK_ITEM,
            alert_desk=ALERT_DESK,
            granted_at=NOW + dt.timedelta(hours=1),
            granted_paths=("narrative.full_account", "detail.plan_detail"),
        )
    )
    views = alert_views(
        [older, newer],
        holds_notice=lambda notice_id: False,
        desks={DESK_ITEM.subscriber_id: "the MASH manager desk (LA-E09000099)"},
        reasons=RULES.reasons,
        now=NOW + dt.timedelta(hours=4, minutes=30),
    )
    assert [v.alert_id for v in views] == [newer.alert_id, older.alert_id]
    first, second = views
    assert first.notice_text == "Your reference SYN-REF-0042"
    assert second.notice_text == f"Notice {DESK_ITEM.notice_id}"
    assert first.given_to == "MASH manager at the MASH manager desk (LA-E09000099)"
    assert first.reason_text == RULES.reasons["CHILD_PRESENTING_NOW"]
    assert first.notice_href is None
    assert (first.running, second.running) == (True, False)
    assert len(first.fields) == 2


def test_answers_are_sealed_kept_across_a_restart_and_erased_with_the_child(
    tmp_path: Path,
) -> None:
    path = tmp_path / "console.sqlite"
    marker = f"Quillon{secrets.token_hex(4)}"
    database = PrivateSqlite(path)
    grants = BreakGlassGrants(database, STORE_KEYS)
    refusal = refusal_from_feed(_refusal(explanation=f"Refused: {marker} explanation."))
    alert = alert_from_feed(
        alert_record(
            DESK_ITEM,
            alert_desk=ALERT_DESK,
            granted_at=NOW,
            justification=f"{marker} is in the emergency department.",
        )
    )
    grants.asked(
        request_id=refusal.request_id,
        subscriber_id=DESK_ITEM.subscriber_id,
        notice_id=DESK_ITEM.notice_id,
        linkage_key=CHILD,
        requester_subject="u-manager",
        at=NOW,
    )
    assert grants.pending(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, "u-manager")
    assert grants.keep_refusal(refusal)
    assert not grants.keep_refusal(refusal)  # redelivered
    assert grants.keep_alert(alert)
    assert not grants.keep_alert(alert)
    # The refusal answered the request: the page no longer waits.
    assert grants.pending(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, "u-manager") is None
    database.close()
    raw = _bytes(path)
    assert marker.encode() not in raw
    assert b"SYN-REF-0042" not in raw

    database = PrivateSqlite(path)  # a restart: the same store key opens them
    grants = BreakGlassGrants(database, STORE_KEYS)
    assert grants.refusals_for(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id) == [refusal]
    assert grants.alerts_for(ALERT_DESK) == [alert]
    assert grants.alert_count(ALERT_DESK) == 1
    assert grants.alert_count(DESK_ITEM.subscriber_id) == 0

    grants.erase_child(CHILD)
    assert grants.refusals_for(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id) == []
    assert grants.alerts_for(ALERT_DESK) == []
    with database.reading() as db:
        for table in ("break_glass_refusals", "break_glass_alerts"):
            assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    database.close()


def _bytes(path: Path) -> bytes:
    log = path.with_name(path.name + "-wal")
    return path.read_bytes() + (log.read_bytes() if log.exists() else b"")


@pytest.mark.parametrize("kind", ["refusal", "alert"])
async def test_the_feed_follower_keeps_answers_apart_from_the_desks_items(kind: str) -> None:
    hub_key = SigningKey.generate(GATEWAY_PRINCIPAL)
    desk = DESK_ITEM.subscriber_id if kind == "refusal" else ALERT_DESK
    subscriber = TOPOLOGY.subscriber(desk)
    projection = FeedProjection(subscriber.subscriber_id)
    grants = BreakGlassGrants()
    changes: list[str] = []
    follower = FeedFollower(
        hub=HubSettings(),
        subscriber=subscriber,
        partitions=1,
        catalog=CATALOG,
        hub_keys=KeyDirectory.of([hub_key]),
        projection=projection,
        on_change=lambda _, change: changes.append(change.notice_id),
        grants=grants,
        clock=lambda: NOW,
    )
    if kind == "refusal":
        message_type, record = MessageType.BREAK_GLASS_REFUSAL, _refusal()
    else:
        message_type = MessageType.BREAK_GLASS_ALERT
        record = alert_record(DESK_ITEM, alert_desk=ALERT_DESK, granted_at=NOW)
    value = seal(CATALOG, CATALOG.encode(message_type, record), hub_key, NOW)
    consumed = ConsumerRecord(
        subscriber.feed_topic, 0, 3, 0, 0, CHILD.encode(), value, None, 0, len(value), []
    )
    await follower._apply_batch([consumed])
    assert follower.stats.skipped == 0
    assert len(projection) == 0  # never a desk item
    assert changes == [DESK_ITEM.notice_id]
    if kind == "refusal":
        (kept,) = grants.refusals_for(desk, DESK_ITEM.notice_id)
        assert kept.request_id == record["request_id"]
    else:
        (alert,) = grants.alerts_for(desk)
        assert alert.alert_id == record["alert_id"]
