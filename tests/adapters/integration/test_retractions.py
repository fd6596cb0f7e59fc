"""Withdrawing a notice through the real adapter app and the real broker (issue 18): the
retraction is on the agency's notice topic, signed by the agency, keyed by the original's
linkage key, and decodes as a NoticeRetraction of the original; the same retraction again
publishes nothing; unknown references, unpublished corrections, bad reasons and missing
tokens are refused as the contract says."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord

from services.adapters.health.app import create_app as health_app
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, open_envelope
from services.hubkit.problems import problem_type_uri
from services.hubkit.retraction import retraction_id_for
from tests.adapters.helpers import PATHS, map_native
from tests.adapters.integration.conftest import Hub

pytestmark = pytest.mark.kafka

AGENCY = "HEALTH"


def _opened(hub: Hub, record: ConsumerRecord) -> tuple[MessageType, dict[str, Any], str]:
    """Verify the envelope; decode its payload as whatever it is (notice or retraction)."""
    verified = open_envelope(
        hub.catalog, record.value, KeyDirectory.load(hub.settings.keys_dir / "trusted")
    )
    kind = hub.catalog.message_type_of(verified.payload)
    return kind, hub.catalog.decode(verified.payload, kind), verified.owner


def _retractions(hub: Hub, records: list[ConsumerRecord]) -> list[tuple[ConsumerRecord, Any]]:
    out = []
    for record in records:
        kind, payload, _ = _opened(hub, record)
        if kind is MessageType.NOTICE_RETRACTION:
            out.append((record, payload))
    return out


async def _publish(hub: Hub, document: dict[str, Any]) -> dict[str, Any]:
    """Post a native record; the notice it maps to (for its id, reference and key)."""
    expected = map_native(AGENCY, document, keyer=hub.keyer)
    response = await hub.adapters[AGENCY].post(
        PATHS[AGENCY],
        content=json.dumps(document),
        headers={**await hub.headers(AGENCY), "Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["notice_id"] == expected["notice_id"]
    return expected


async def _retract(hub: Hub, body: Any, *, token: bool = True) -> httpx.Response:
    headers = await hub.headers(AGENCY) if token else {}
    return await hub.adapters[AGENCY].post("/v1/retractions", json=body, headers=headers)


async def test_a_wrong_child_record_is_withdrawn_once_signed_and_on_its_partition(
    hub: Hub,
) -> None:
    records = hub.records(seed=1801)
    reader = await hub.reader(AGENCY)
    try:
        original = await _publish(hub, records.record(AGENCY))
        notice_id = original["notice_id"]
        reference = original["source"]["source_reference"]
        body = {"source_reference": reference, "reason": "WRONG_CHILD"}

        first = await _retract(hub, body)
        assert first.status_code == 202, first.text
        assert first.json() == {
            "retraction_id": retraction_id_for(notice_id),
            "notice_id": notice_id,
        }
        seen = await reader.read_until(lambda rs: bool(_retractions(hub, rs)), timeout_s=30)
        again = await _retract(hub, body)
        seen += await reader.drain(quiet_s=1.5)
    finally:
        await reader.stop()

    assert (again.status_code, again.json()) == (202, first.json())
    mine = [
        (r, p) for r, p in _retractions(hub, seen) if str(p["retracted_notice_id"]) == notice_id
    ]
    assert len(mine) == 1  # the repeat published nothing
    record, retraction = mine[0]
    _, _, signer = _opened(hub, record)
    assert signer == hub.topology.agency(AGENCY).principal
    assert record.key == original["subject"]["linkage_key"].encode()
    (published,) = [
        r
        for r in seen
        if _opened(hub, r)[0] is MessageType.NOTICE
        and str(_opened(hub, r)[1]["notice_id"]) == notice_id
    ]
    assert (published.partition, published.offset) < (record.partition, record.offset + 1)
    assert published.partition == record.partition  # follows the original
    assert str(retraction["retraction_id"]) == first.json()["retraction_id"]
    assert retraction["reason"] == "WRONG_CHILD"
    assert retraction["replaced_by_notice_id"] is None
    assert retraction["subject_linkage_key"] == original["subject"]["linkage_key"]
    assert retraction["source"]["agency"] == AGENCY
    assert retraction["source"]["source_reference"] == reference


async def test_a_correction_needs_the_corrected_record_published_first(hub: Hub) -> None:
    records = hub.records(seed=1802)
    original = await _publish(hub, records.record(AGENCY))
    corrected_document = records.record(AGENCY)
    corrected_reference = map_native(AGENCY, corrected_document, keyer=hub.keyer)["source"][
        "source_reference"
    ]
    body = {
        "source_reference": original["source"]["source_reference"],
        "reason": "CORRECTED",
        "replaced_by_source_reference": corrected_reference,
    }

    early = await _retract(hub, body)
    assert early.status_code == 409, early.text
    assert early.json()["type"] == problem_type_uri("retraction-conflict")
    assert "send the corrected record first" in early.json()["detail"]

    reader = await hub.reader(AGENCY)
    try:
        corrected = await _publish(hub, corrected_document)
        late = await _retract(hub, body)
        assert late.status_code == 202, late.text
        seen = await reader.read_until(
            lambda rs: any(
                str(p["retracted_notice_id"]) == original["notice_id"]
                for _, p in _retractions(hub, rs)
            ),
            timeout_s=30,
        )
    finally:
        await reader.stop()
    (retraction,) = [
        p
        for _, p in _retractions(hub, seen)
        if str(p["retracted_notice_id"]) == original["notice_id"]
    ]
    assert retraction["reason"] == "CORRECTED"
    assert str(retraction["replaced_by_notice_id"]) == corrected["notice_id"]

    # Withdrawn once: the same notice withdrawn for another reason is refused.
    other = await _retract(
        hub,
        {"source_reference": original["source"]["source_reference"], "reason": "WRONG_CHILD"},
    )
    assert other.status_code == 409
    assert "already withdrawn" in other.json()["detail"]


async def test_unknown_reference_is_404(hub: Hub) -> None:
    response = await _retract(
        hub, {"source_reference": "never-published-by-this-adapter", "reason": "ENTERED_IN_ERROR"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == problem_type_uri("notice-not-found")


async def test_bad_reason_is_422_with_a_field_error(hub: Hub) -> None:
    response = await _retract(hub, {"source_reference": "anything", "reason": "CHANGED_MIND"})
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/reason"]

    missing = await _retract(hub, {"source_reference": "anything", "reason": "CORRECTED"})
    assert missing.status_code == 422
    assert [(e["pointer"], e["code"]) for e in missing.json()["errors"]] == [
        ("/replaced_by_source_reference", "replacement_missing")
    ]


async def test_no_token_is_401_before_the_body_is_read(hub: Hub) -> None:
    # Over the JSON body limit and not JSON: without a token neither is ever looked at.
    oversized = b"x" * (hub.adapter_settings().max_json_bytes + 1)
    response = await hub.adapters[AGENCY].post(
        "/v1/retractions", content=oversized, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    assert response.json()["type"] == problem_type_uri("unauthenticated")
    with_token = await hub.adapters[AGENCY].post(
        "/v1/retractions",
        content=oversized,
        headers={**await hub.headers(AGENCY), "Content-Type": "application/json"},
    )
    assert with_token.status_code == 413


async def test_receipts_of_an_unknown_retraction_are_404_and_need_a_token(hub: Hub) -> None:
    unknown = retraction_id_for("00000000-0000-5000-8000-000000000000")
    anonymous = await hub.adapters[AGENCY].get(f"/v1/retractions/{unknown}")
    assert anonymous.status_code == 401
    response = await hub.adapters[AGENCY].get(
        f"/v1/retractions/{unknown}", headers=await hub.headers(AGENCY)
    )
    assert response.status_code == 404
    assert response.json()["type"] == problem_type_uri("notice-not-found")


async def test_receipts_without_an_audit_service_configured_are_503(hub: Hub) -> None:
    records = hub.records(seed=1803)
    original = await _publish(hub, records.record(AGENCY))
    accepted = await _retract(
        hub,
        {"source_reference": original["source"]["source_reference"], "reason": "WRONG_CHILD"},
    )
    assert accepted.status_code == 202, accepted.text

    # The same durable store, an adapter with no audit service configured.
    settings = hub.adapter_settings().model_copy(update={"audit_url": ""})
    app = health_app(hub.settings, settings, jwks=hub.jwks, http=hub.outbound)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://health-2.test"
        ) as unconfigured,
    ):
        response = await unconfigured.get(
            f"/v1/retractions/{accepted.json()['retraction_id']}",
            headers=await hub.headers(AGENCY),
        )
    assert response.status_code == 503
    assert response.json()["type"] == problem_type_uri("audit-unavailable")
    assert "SAFEHUB_ADAPTER_AUDIT_URL" in response.json()["detail"]
