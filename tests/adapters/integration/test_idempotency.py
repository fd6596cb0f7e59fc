"""Same source record twice -> same notice id, ONE notice on the bus; changed content under
the same reference -> 409 and nothing published; the store survives an adapter restart."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.adapters.police.app import create_app as police_app
from tests.adapters.helpers import map_native
from tests.adapters.integration.conftest import Hub, notice_ids

pytestmark = pytest.mark.kafka


async def test_same_record_twice_is_one_notice(hub: Hub) -> None:
    records = hub.records(seed=301)
    document = records.police_dash(records.child())
    expected = map_native("POLICE", document, keyer=hub.keyer)
    expected_id = expected["notice_id"]
    reference = expected["source"]["source_reference"]
    reader = await hub.reader("POLICE")
    police = hub.adapters["POLICE"]
    headers = await hub.headers("POLICE")
    try:
        first = await police.post("/v1/occurrences", json=document, headers=headers)
        second = await police.post("/v1/occurrences", json=document, headers=headers)
        # Five more at once: they wait for each other, none publishes again.
        burst = await asyncio.gather(
            *(police.post("/v1/occurrences", json=document, headers=headers) for _ in range(5))
        )
        changed = await police.post(
            "/v1/occurrences", json={**document, "dash_grade": "STANDARD"}, headers=headers
        )
        corrected = await police.post(
            "/v1/occurrences",
            json={**document, "dash_grade": "STANDARD", "revision": 2},
            headers=headers,
        )
        seen = await reader.read_until(
            lambda rs: corrected.json().get("notice_id") in notice_ids(hub, rs), timeout_s=30
        )
        seen += await reader.drain(quiet_s=1.5)
    finally:
        await reader.stop()

    assert (first.status_code, first.json()) == (
        202,
        {
            "notice_id": expected_id,
            "source_reference": reference,
            "status": "published",
            "warnings": [],
        },
    )
    assert (second.status_code, second.json()) == (
        202,
        {
            "notice_id": expected_id,
            "source_reference": reference,
            "status": "duplicate",
            "warnings": [],
        },
    )
    assert [(r.status_code, r.json()["status"]) for r in burst] == [(202, "duplicate")] * 5
    assert changed.status_code == 409
    assert changed.json()["notice_id"] == expected_id
    assert changed.json()["errors"][0]["code"] == "reference_conflict"
    assert corrected.status_code == 202
    assert corrected.json()["notice_id"] != expected_id

    ids = notice_ids(hub, seen)
    assert ids.count(expected_id) == 1
    assert ids.count(corrected.json()["notice_id"]) == 1


async def test_idempotency_survives_an_adapter_restart(hub: Hub) -> None:
    records = hub.records(seed=302)
    document = records.police_ppn(records.child())
    headers = await hub.headers("POLICE")
    first = await hub.adapters["POLICE"].post("/v1/occurrences", json=document, headers=headers)
    assert first.json()["status"] == "published"

    # A second adapter process on the same durable store (a restart, or another worker).
    app = police_app(hub.settings, hub.adapter_settings(), jwks=hub.jwks, http=hub.outbound)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://police-2.test"
        ) as restarted,
    ):
        again = await restarted.post("/v1/occurrences", json=document, headers=headers)
    assert again.json() == {
        "notice_id": first.json()["notice_id"],
        "source_reference": first.json()["source_reference"],
        "status": "duplicate",
        "warnings": [],
    }
