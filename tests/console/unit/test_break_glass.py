"""Emergency access in the console (issue 18), pure core and store: what the form offers and
whom to, the request the rules allow (encoded with the real schema), a grant kept apart from
the desk's item and shown only to the person who asked, only until it ends, its content
deleted then (the file's bytes are searched), and erased with the child."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from services.console.break_glass import BreakGlassGrants
from services.console.domain.access import Requester
from services.console.domain.break_glass import (
    BreakGlassRefused,
    Grant,
    break_glass_request,
    emergency_panel,
    grant_for_viewer,
    grant_from_feed_item,
    is_grant,
    request_offer,
)
from services.console.domain.consultations import ConsultationPurpose, notice_viewed_event
from services.console.domain.projection import FeedProjection
from services.console.feeds import FeedFollower
from services.hubkit.audit_trail import check_console_access
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.settings import REPO_ROOT, HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from services.hubkit.topology import GATEWAY_PRINCIPAL
from tests.console.app_fakes import TOPOLOGY
from tests.console.break_glass_items import RULES, grant_item
from tests.console.factories import CHILD, NOW, STORE_KEYS, entry

CATALOG = SchemaCatalog(REPO_ROOT / "schemas" / "avro")
DESK_ITEM = entry(
    withheld=(
        "narrative.full_account",
        "detail.source_details",
        "narrative.summary",
        "detail.clinical_detail",
    ),
)
UNTIL = NOW + dt.timedelta(hours=RULES.grant_hours)


def _grant(
    subject: str = "u-manager", *, until: dt.datetime = UNTIL, marker: str = "Quill"
) -> Grant:
    item = grant_item(
        DESK_ITEM,
        requester_subject=subject,
        granted_view={"narrative": {"full_account": f"Synthetic account {marker}."}},
        expires_at=until,
    )
    return grant_from_feed_item(item)


def test_the_form_offers_only_what_the_rules_may_give_to_roles_that_may_ask() -> None:
    offer = request_offer(RULES, roles=("MASH_MANAGER",), entry=DESK_ITEM)
    assert offer is not None
    # Who told the agency (a never-path) is not offered, whatever the desk was refused; nor
    # is clinical detail, beyond a MASH manager's ceiling for a safeguarding contact.
    assert offer.paths == ("narrative.full_account", "narrative.summary")
    assert [code for code, _ in offer.reasons] == list(RULES.reasons)
    assert request_offer(RULES, roles=("SOCIAL_WORKER",), entry=DESK_ITEM) is None
    assert request_offer(RULES, roles=("MASH_MANAGER",), entry=entry()) is None
    assert request_offer(None, roles=("MASH_MANAGER",), entry=DESK_ITEM) is None


def test_a_request_the_rules_allow_encodes_as_a_break_glass_request() -> None:
    request_id = str(uuid.uuid4())
    record = break_glass_request(
        RULES,
        request_id=request_id,
        entry=DESK_ITEM,
        requester_subject="u-manager",
        roles=("MASH_MANAGER",),
        reason="CHILD_PRESENTING_NOW",
        justification="  Child in the ED now with injuries.  ",
        requested=["narrative.full_account", "narrative.full_account"],
        at=NOW,
    )
    assert record["requested_paths"] == ["narrative.full_account"]
    assert record["justification"] == "Child in the ED now with injuries."
    assert record["subject_linkage_key"] == CHILD
    assert record["requester_role"] == "MASH_MANAGER"
    decoded = CATALOG.decode(
        CATALOG.encode(MessageType.BREAK_GLASS_REQUEST, record), MessageType.BREAK_GLASS_REQUEST
    )
    assert str(decoded["request_id"]) == request_id
    assert decoded["notice_id"] == DESK_ITEM.notice_id


@pytest.mark.parametrize(
    ("roles", "reason", "justification", "paths", "words"),
    [
        (("SOCIAL_WORKER",), "CHILD_PRESENTING_NOW", "now", ["narrative.full_account"], "role"),
        (("MASH_MANAGER",), "CURIOSITY", "now", ["narrative.full_account"], "reason"),
        (("MASH_MANAGER",), "CHILD_PRESENTING_NOW", "   ", ["narrative.full_account"], "words"),
        (("MASH_MANAGER",), "CHILD_PRESENTING_NOW", "now", ["detail.source_details"], "told"),
        (("MASH_MANAGER",), "CHILD_PRESENTING_NOW", "now", ["risk.level"], "withheld"),
        (("MASH_MANAGER",), "CHILD_PRESENTING_NOW", "now", [], "choose"),
    ],
)
def test_a_request_the_rules_do_not_allow_is_refused_in_words(
    roles: tuple[str, ...], reason: str, justification: str, paths: list[str], words: str
) -> None:
    with pytest.raises(BreakGlassRefused, match=words):
        break_glass_request(
            RULES,
            request_id=str(uuid.uuid4()),
            entry=DESK_ITEM,
            requester_subject="u-x",
            roles=roles,
            reason=reason,
            justification=justification,
            requested=paths,
            at=NOW,
        )


def test_a_grant_is_shown_only_to_who_asked_and_only_until_it_ends() -> None:
    own, colleagues = _grant("u-manager"), _grant("u-dana")
    assert is_grant(grant_item(DESK_ITEM, requester_subject="x", granted_view={}, expires_at=UNTIL))
    shown = grant_for_viewer([own, colleagues], subject="u-manager", now=NOW)
    assert shown is not None
    assert shown.request_id == own.request_id
    assert shown.entry is not None
    assert "Quill" in shown.entry.view_json
    assert grant_for_viewer([colleagues], subject="u-manager", now=NOW) is None
    ended = grant_for_viewer([own], subject="u-manager", now=UNTIL)
    assert ended is not None
    assert ended.entry is None
    panel = emergency_panel(grant=own, asked_at=None, offer=None, rules=RULES, now=NOW)
    assert panel is not None
    assert panel.state == "running"
    assert [r.value for r in panel.fields] == ["Synthetic account Quill."]
    panel = emergency_panel(grant=ended, asked_at=None, offer=None, rules=RULES, now=UNTIL)
    assert panel is not None
    assert (panel.state, panel.fields) == ("ended", ())


def test_kept_apart_sealed_and_deleted_at_expiry(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    marker = f"Marwick{secrets.token_hex(4)}"
    database = PrivateSqlite(path)
    grants = BreakGlassGrants(database, STORE_KEYS)
    grant = _grant(marker=marker)
    assert grants.keep(grant, now=NOW)
    assert not grants.keep(grant, now=NOW)  # redelivered: the same grant
    raw = _bytes(path)
    assert marker.encode() not in raw  # sealed under the child's key, never in clear
    (held,) = grants.for_notice(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, now=NOW)
    assert held.entry is not None
    assert marker in held.entry.view_json
    # Reopened (a restart), the same store key opens it.
    database.close()
    database = PrivateSqlite(path)
    grants = BreakGlassGrants(database, STORE_KEYS)
    (held,) = grants.for_notice(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, now=NOW)
    assert held.entry is not None
    sealed = _sealed_column(database, grant.request_id)
    assert sealed is not None
    # At expiry the content goes, from the row, the free pages and the log.
    (ended,) = grants.for_notice(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, now=UNTIL)
    assert ended.entry is None
    assert ended.expires_at == UNTIL
    assert _sealed_column(database, grant.request_id) is None
    database.close()
    raw = _bytes(path)
    assert sealed not in raw


def test_a_grant_arriving_after_it_ended_is_kept_without_content() -> None:
    grants = BreakGlassGrants()
    assert grants.keep(_grant(), now=UNTIL + dt.timedelta(minutes=1))
    (kept,) = grants.for_notice(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, now=UNTIL)
    assert kept.entry is None


def test_the_page_waits_for_the_hub_until_the_grant_answers() -> None:
    grants = BreakGlassGrants()
    grant = _grant()
    grants.asked(
        request_id=grant.request_id,
        subscriber_id=DESK_ITEM.subscriber_id,
        notice_id=DESK_ITEM.notice_id,
        linkage_key=CHILD,
        requester_subject="u-manager",
        at=NOW,
    )
    pending = grants.pending(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, "u-manager")
    assert pending is not None
    assert pending.requested_at == NOW
    assert grants.pending(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, "u-dana") is None
    grants.keep(grant, now=NOW)
    assert grants.pending(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, "u-manager") is None


def test_erasing_the_child_erases_its_grants(tmp_path: Path) -> None:
    database = PrivateSqlite(tmp_path / "console.sqlite")
    grants = BreakGlassGrants(database, STORE_KEYS)
    grants.keep(_grant(), now=NOW)
    assert grants.erase_child(CHILD) == 1
    assert grants.for_notice(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, now=NOW) == []
    database.close()


async def test_the_feed_follower_keeps_a_grant_apart_and_never_replaces_the_desks_item() -> None:
    hub_key = SigningKey.generate(GATEWAY_PRINCIPAL)
    subscriber = TOPOLOGY.subscriber(DESK_ITEM.subscriber_id)
    projection = FeedProjection(subscriber.subscriber_id)
    projection.apply(DESK_ITEM)
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
    item = grant_item(
        DESK_ITEM,
        requester_subject="u-manager",
        granted_view={"narrative": {"full_account": "Synthetic account."}},
        expires_at=UNTIL,
    )
    value = seal(CATALOG, CATALOG.encode(MessageType.FEED_ITEM, item), hub_key, NOW)
    record = ConsumerRecord(
        subscriber.feed_topic, 0, 7, 0, 0, CHILD.encode(), value, None, 0, len(value), []
    )
    await follower._apply_batch([record])
    assert projection.get(DESK_ITEM.notice_id) == DESK_ITEM  # the desk's item, untouched
    (kept,) = grants.for_notice(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, now=NOW)
    assert kept.entry is not None
    assert "Synthetic account." in kept.entry.view_json
    assert changes == [DESK_ITEM.notice_id]  # the open page re-fetches


def _sealed_column(database: PrivateSqlite, request_id: str) -> bytes | None:
    with database.reading() as db:
        row = db.execute(
            "SELECT item_sealed FROM break_glass_grants WHERE request_id = ?", (request_id,)
        ).fetchone()
    return None if row["item_sealed"] is None else bytes(row["item_sealed"])


def _bytes(path: Path) -> bytes:
    """The database file and its write-ahead log, as on disk."""
    log = path.with_name(path.name + "-wal")
    return path.read_bytes() + (log.read_bytes() if log.exists() else b"")


def test_the_audit_log_takes_a_grant_id_on_a_notice_view_only() -> None:
    requester = Requester("u-manager", ("MASH_MANAGER",), TOPOLOGY.subscriber("mash-manager"))
    request_id = str(uuid.uuid4())
    viewed = notice_viewed_event(
        access_id=str(uuid.uuid4()),
        requester=requester,
        purpose=ConsultationPurpose.MASH_TRIAGE,
        notice_id=DESK_ITEM.notice_id,
        linkage_key=CHILD,
        source_agency="POLICE",
        at=NOW,
        break_glass_request_id=request_id,
    )
    check_console_access(viewed)
    decoded = CATALOG.decode(
        CATALOG.encode(MessageType.CONSOLE_ACCESS, viewed), MessageType.CONSOLE_ACCESS
    )
    assert str(decoded["break_glass_request_id"]) == request_id
    with pytest.raises(AuditRecordRejected, match="break-glass request id on a ACCESS_REFUSED"):
        check_console_access({**viewed, "event": "ACCESS_REFUSED", "consultation": None})


def test_the_console_asks_only_as_the_rules_let_the_console_ask() -> None:
    # A clinician's role is CP-IS's to ask as (requesting_services), never the console's, and
    # the console asks only from the desks the rules give it: what the gateway checks of the
    # console's signature, so a request it would refuse as forged is never offered.
    assert request_offer(RULES, roles=("UNSCHEDULED_CARE_CLINICIAN",), entry=DESK_ITEM) is None
    elsewhere = entry(subscriber_id="mash-health-navigator", withheld=("narrative.full_account",))
    assert request_offer(RULES, roles=("MASH_MANAGER",), entry=elsewhere) is None
    with pytest.raises(BreakGlassRefused, match="at this desk"):
        break_glass_request(
            RULES,
            request_id=str(uuid.uuid4()),
            entry=elsewhere,
            requester_subject="u-manager",
            roles=("MASH_MANAGER",),
            reason="CHILD_PRESENTING_NOW",
            justification="Child in the ED now.",
            requested=["narrative.full_account"],
            at=NOW,
        )
