"""Issue 21 item 4: every request example on every adapter's OpenAPI page, posted to the
adapter as it stands, gets the answer the page documents for it: 202 (published whole, no
warnings) when none is documented, else exactly the documented status and body (for a
refusal: every problem pointer, code and message).

The document is read from the adapter's own /openapi.json, as an integrator reads it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adapters.integration.conftest import Hub
from tests.adapters.integration.openapi_walk import documented_examples, post_example

pytestmark = pytest.mark.kafka

AGENCIES = ("POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR")


async def _schema(hub: Hub, agency: str) -> dict[str, Any]:
    response = await hub.adapters[agency].get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.mark.parametrize("agency", AGENCIES)
async def test_every_ingest_route_has_complete_examples(hub: Hub, agency: str) -> None:
    schema = await _schema(hub, agency)
    posts = {
        path
        for path, operations in schema["paths"].items()
        if "post" in operations and "requestBody" in operations["post"]
    }
    examples = documented_examples(schema)
    assert posts == {e.path for e in examples}, "every POST route needs at least one example"
    accepted = {e.path for e in examples if e.answer is None or e.answer[0] in (200, 202)}
    assert posts == accepted, "every route needs an example that is accepted"


@pytest.mark.parametrize("agency", AGENCIES)
async def test_every_example_gets_its_documented_answer(hub: Hub, agency: str) -> None:
    schema = await _schema(hub, agency)
    token = await hub.token(agency)
    # Records before retractions: a retraction example names a record example's notice.
    examples = sorted(documented_examples(schema), key=lambda e: e.path == "/v1/retractions")
    assert examples
    wrong: list[str] = []
    for example in examples:
        response = await post_example(hub.adapters[agency], token, example)
        label = f"{example.method} {example.path} [{example.media_type}] {example.name}"
        body = response.json()
        if example.answer is None:
            if response.status_code != 202 or body.get("warnings", []) != []:
                wrong.append(f"{label}: {response.status_code} {body}")
        elif (response.status_code, body) != example.answer:
            wrong.append(f"{label}: documented {example.answer}, got {response.status_code} {body}")
    assert wrong == []
