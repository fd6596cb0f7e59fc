"""Per-field provenance in the console (issue 19): each item's fields are checked against the
agency's own signature when projected, the outcome kept with the item, and the item page says
what was checked, what rests on the hub alone, or warns (naming the field, never a value)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord

from services.console.app import create_app
from services.console.domain.feed import entry_from_feed_item
from services.console.domain.projection import FeedProjection
from services.console.domain.provenance import (
    FieldProvenance,
    ProvenanceState,
    checked_provenance,
    provenance_notice,
)
from services.console.feeds import FeedFollower
from services.console.projection_store import item_json
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings
from tests.console.app_fakes import PEOPLE, TOPOLOGY, FakeSignIn, Sent, page_runtime
from tests.provenance_feed import (
    CATALOG,
    KEYS,
    SOURCE_WITHHELD,
    altered,
    item_for,
    moved,
    notice_json,
    sealed,
)

SUBSCRIBER = TOPOLOGY.subscriber("mash-manager")
POLICE_LABEL = "Police (Synthetic Constabulary)"
LABELS = {"adapter-police": POLICE_LABEL}

GOOD = item_for(notice_json(seed=3))
TAMPERED = altered(item_for(notice_json(seed=4)), "subject.given_name", "Mallory")
MOVED = moved(item_for(notice_json(seed=5)), item_for(notice_json(seed=6)), "risk.level")
WITHHELD = item_for(notice_json(seed=7), permitted=SOURCE_WITHHELD)


def _notice_for(item: Mapping[str, Any]) -> Any:
    return provenance_notice(
        checked_provenance(item, KEYS), view=json.loads(item["view_json"]), signer_labels=LABELS
    )


def test_a_verified_item_names_the_agency_and_counts_its_fields() -> None:
    notice = _notice_for(GOOD)
    checked = len(json.loads(GOOD["view_json"]))  # at least one unit per top-level field
    assert notice is not None
    assert not notice.warning
    assert notice.text.startswith(f"Checked against {POLICE_LABEL}'s own signature: ")
    count = int(notice.text.split(": ")[1].split(" ")[0])
    assert count >= checked
    assert notice.fields == ()


def test_a_field_the_hub_alone_vouches_for_is_named() -> None:
    notice = _notice_for(altered(GOOD, "subject.family_name", "Dunmore"))
    assert notice is not None
    assert not notice.warning
    assert "rest on the hub's signature alone" in notice.text
    assert notice.fields == ("Family name",)


def test_a_withheld_source_says_the_fields_rest_on_the_hub() -> None:
    notice = _notice_for(WITHHELD)
    assert notice is not None
    assert not notice.warning
    assert (
        notice.text == "The source is withheld from you: these fields rest on the hub's signature."
    )


def test_an_unsigned_notice_naming_its_source_says_so() -> None:
    notice = _notice_for({**GOOD, "field_provenance": None})
    assert notice is not None
    assert not notice.warning
    assert "without the agency's own signature" in notice.text


@pytest.mark.parametrize(
    ("item", "label"), [(TAMPERED, "Given name"), (MOVED, "Source's risk level")]
)
def test_a_field_that_does_not_match_is_a_warning_naming_it_not_its_value(
    item: dict[str, Any], label: str
) -> None:
    notice = _notice_for(item)
    assert notice is not None
    assert notice.warning
    assert "A field does not match what the agency signed" in notice.text
    assert notice.fields == (label,)
    assert "Mallory" not in notice.text


def test_an_item_not_checked_says_nothing() -> None:
    assert provenance_notice(None, view={}, signer_labels=LABELS) is None


def test_the_outcome_is_kept_with_the_stored_item() -> None:
    entry = entry_from_feed_item(TAMPERED)
    assert entry.provenance is None  # a FeedItem from the feed carries no outcome
    checked = checked_provenance(TAMPERED, KEYS)
    kept = entry_from_feed_item(
        json.loads(item_json(dataclasses.replace(entry, provenance=checked)))
    )
    assert kept.provenance == checked
    assert kept.provenance == FieldProvenance(
        ProvenanceState.INVALID, reason="altered", path="subject.given_name"
    )


async def _projected(*items: dict[str, Any]) -> tuple[FeedProjection, FeedFollower]:
    """The items through the console's own feed follower: seal check, then provenance."""
    projection = FeedProjection(SUBSCRIBER.subscriber_id)
    follower = FeedFollower(
        hub=HubSettings(),
        subscriber=SUBSCRIBER,
        partitions=1,
        catalog=CATALOG,
        hub_keys=KEYS,
        projection=projection,
        on_change=lambda _, change: None,
    )
    records = [
        ConsumerRecord(SUBSCRIBER.feed_topic, 0, offset, 0, 0, b"k", value, None, 0, len(value), [])
        for offset, value in enumerate(
            sealed({**i, "subscriber_id": "mash-manager"}) for i in items
        )
    ]
    await follower._apply_batch(records)
    return projection, follower


async def test_the_follower_checks_and_counts_a_field_that_does_not_match() -> None:
    projection, follower = await _projected(GOOD, TAMPERED)
    good = projection.get(GOOD["notice_id"])
    bad = projection.get(TAMPERED["notice_id"])
    assert good is not None
    assert good.provenance is not None
    assert good.provenance.state is ProvenanceState.VERIFIED
    assert bad is not None
    assert bad.provenance is not None
    assert bad.provenance.state is ProvenanceState.INVALID
    assert follower.provenance_failed == {"altered": 1}


@contextlib.asynccontextmanager
async def _console(projection: FeedProjection) -> AsyncIterator[httpx.AsyncClient]:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    signin, sent = FakeSignIn(), Sent()
    projections = {
        s.subscriber_id: FeedProjection(s.subscriber_id)
        for s in TOPOLOGY.subscribers
        if s.role in settings.console_roles
    }
    projections[SUBSCRIBER.subscriber_id] = projection

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield page_runtime(settings, sessions, projections=projections, signin=signin, sent=sent)

    app = create_app(HubSettings(), settings, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            signin.next = PEOPLE["manager"]
            await http.get("/login")
            await http.get("/auth/callback")
            yield http


async def test_the_item_page_warns_on_a_tampered_field_and_vouches_for_a_good_one() -> None:
    projection, _ = await _projected(GOOD, TAMPERED, WITHHELD)
    async with _console(projection) as http:
        bad = await http.get(f"/items/{TAMPERED['notice_id']}")
        good = await http.get(f"/items/{GOOD['notice_id']}")
        withheld = await http.get(f"/items/{WITHHELD['notice_id']}")
    assert bad.status_code == good.status_code == withheld.status_code == 200
    assert 'class="provenance provenance-warning" role="alert"' in bad.text
    assert "Warning: Do not rely on this notice" in bad.text
    assert "A field does not match what the agency signed (Given name)" in bad.text
    assert "provenance-warning" not in good.text
    assert f"Checked against {POLICE_LABEL}&#39;s own signature" in good.text
    assert 'role="status" aria-labelledby="provenance-heading"' in good.text
    assert "The source is withheld from you" in withheld.text
