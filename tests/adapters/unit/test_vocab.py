"""The adapters' vocabularies and constants match the Avro schemas and the port plan."""

from __future__ import annotations

import json
from enum import StrEnum

import pytest

from services.adapters.childrens_services.models import CpCategory, LegalStatus
from services.adapters.health.mapping import CARE_SETTINGS
from services.adapters.ingest import vocab
from services.adapters.ingest.settings import ADAPTER_PORTS, IDENTITY_PORT
from services.adapters.police.models import DashGrade, MissingStatus
from services.adapters.voluntary_sector.models import VcsKind
from tests.factories import SCHEMAS


def _symbols(name: str) -> list[str]:
    return list(json.loads((SCHEMAS / f"{name}.avsc").read_text())["symbols"])


@pytest.mark.parametrize(
    ("enum", "schema"),
    [
        (vocab.ConcernCode, "safehub.notice.ConcernCode"),
        (vocab.RiskLevel, "safehub.notice.RiskLevel"),
        (vocab.ConsentStatus, "safehub.notice.ConsentStatus"),
        (vocab.NarrativeSensitivity, "safehub.notice.NarrativeSensitivity"),
        (vocab.Classification, "safehub.notice.Classification"),
        (vocab.ExploitationType, "safehub.notice.detail.ExploitationType"),
        (DashGrade, "safehub.notice.detail.DashRisk"),
        (MissingStatus, "safehub.notice.detail.MissingStatus"),
        (CpCategory, "safehub.notice.detail.CpCategory"),
        (LegalStatus, "safehub.notice.detail.LegalStatus"),
        (VcsKind, "safehub.notice.detail.VcsUpdateKind"),
    ],
)
def test_enums_match_avro_symbols(enum: type[StrEnum], schema: str) -> None:
    assert [m.value for m in enum] == _symbols(schema)


def test_care_settings_match_avro() -> None:
    assert set(CARE_SETTINGS) == set(_symbols("safehub.notice.detail.CareSetting"))


def test_port_plan() -> None:
    ports = [*ADAPTER_PORTS.values(), IDENTITY_PORT]
    assert sorted(ports) == list(range(18201, 18206))
