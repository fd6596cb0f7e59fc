"""Each adapter's OpenAPI page documents every field with a description and an example."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from services.adapters.childrens_services.app import create_app as csc_app
from services.adapters.childrens_services.models import (
    CinReferral,
    CpPlanChange,
    CscNrmReferral,
    LookedAfterChange,
    S47Event,
    Ssda903MissingRow,
)
from services.adapters.health.app import create_app as health_app
from services.adapters.ingest.models import example_of
from services.adapters.police.app import create_app as police_app
from services.adapters.police.models import (
    DashIncident,
    IntelligenceReport,
    MissingPersonRecord,
    PoliceNrmReferral,
    PublicProtectionNotice,
)
from services.adapters.voluntary_sector.app import create_app as vcs_app
from services.adapters.voluntary_sector.models import VcsUpdateForm
from services.hubkit.settings import HubSettings

FACTORIES: dict[str, Callable[[HubSettings], FastAPI]] = {
    "police": police_app,
    "health": health_app,
    "childrens_services": csc_app,
    "voluntary_sector": vcs_app,
}


def _properties(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, component in schema["components"]["schemas"].items():
        for prop, definition in component.get("properties", {}).items():
            yield name, prop, definition


@pytest.mark.parametrize("adapter", sorted(FACTORIES))
def test_every_property_has_a_description_and_an_example(adapter: str) -> None:
    schema = FACTORIES[adapter](HubSettings()).openapi()
    undocumented = [
        f"{component}.{prop}"
        for component, prop, definition in _properties(schema)
        if not definition.get("description")
        or not (definition.get("examples") or "example" in definition)
    ]
    assert undocumented == []
    assert sum(1 for _ in _properties(schema)) > 20


@pytest.mark.parametrize("adapter", sorted(FACTORIES))
def test_every_operation_documents_errors_and_auth(adapter: str) -> None:
    schema = FACTORIES[adapter](HubSettings()).openapi()
    posts = [op for path in schema["paths"].values() for m, op in path.items() if m == "post"]
    assert posts
    for operation in posts:
        assert {"401", "403", "409", "422", "503"} <= set(operation["responses"])
        assert operation.get("security"), "ingest operations need the bearer token"
        assert operation.get("description")
    assert "HTTPValidationError" not in schema["components"]["schemas"]


@pytest.mark.parametrize(
    "model",
    [
        PublicProtectionNotice,
        DashIncident,
        MissingPersonRecord,
        IntelligenceReport,
        PoliceNrmReferral,
        CinReferral,
        CpPlanChange,
        LookedAfterChange,
        S47Event,
        CscNrmReferral,
        Ssda903MissingRow,
    ],
)
def test_documented_examples_are_valid_records(model: type[BaseModel]) -> None:
    """An integrator copying the examples off the OpenAPI page gets a valid record."""
    model.model_validate(example_of(model))


def test_vcs_example_is_valid() -> None:
    example = example_of(VcsUpdateForm, consent_reason_not_sought="Could increase the risk.")
    VcsUpdateForm.model_validate(example)


@pytest.mark.parametrize("adapter", ["police", "childrens_services", "voluntary_sector"])
def test_every_first_responder_can_send_an_nrm_referral(adapter: str) -> None:
    """Rule R12: police, local authorities and certain charities refer into the NRM."""
    schema = FACTORIES[adapter](HubSettings()).openapi()
    described = [
        op.get("summary", "") + op.get("description", "")
        for path in schema["paths"].values()
        for method, op in path.items()
        if method == "post"
    ]
    assert any("NRM" in text for text in described)


@pytest.mark.parametrize("adapter", sorted(FACTORIES))
def test_accepted_answer_documents_warnings(adapter: str) -> None:
    schema = FACTORIES[adapter](HubSettings()).openapi()
    warnings = schema["components"]["schemas"]["NoticeAccepted"]["properties"]["warnings"]
    assert "published" in warnings["description"]


def test_school_urn_documents_the_forms_it_accepts_and_what_happens_otherwise() -> None:
    schema = police_app(HubSettings()).openapi()
    urn = schema["components"]["schemas"]["PoliceSubject"]["properties"]["school_urn"]
    assert "URN-123456" in urn["description"]
    assert "warning" in urn["description"]


@pytest.mark.parametrize("adapter", sorted(FACTORIES))
def test_every_request_body_has_whole_examples(adapter: str) -> None:
    """Without a broker: each POST's body lists examples (the integration test
    test_documented_examples.py posts them), and each documented answer is under a response
    the operation declares."""
    schema = FACTORIES[adapter](HubSettings()).openapi()
    for path, operations in schema["paths"].items():
        operation = operations.get("post")
        if operation is None or "requestBody" not in operation:
            continue
        for media_type, body in operation["requestBody"]["content"].items():
            assert body.get("examples"), f"{path} {media_type}: no examples"
            for example in body["examples"].values():
                assert example["summary"]
                assert example["value"]
