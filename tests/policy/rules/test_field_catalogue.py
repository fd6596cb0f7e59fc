"""policies/safehub/fields/data.json must list exactly the fields the Avro schema defines.

The policy withholds any field it does not know (fail closed), so a field added to the schema
but not to the catalogue would silently never be shared, and a field the catalogue names but
the schema lacks points at a typo in a rule.
"""

from __future__ import annotations

import json
from typing import Any

from services.gateway.domain.redaction import CONTAINER_FIELDS
from services.hubkit.notice import DETAIL_RECORD
from tests.factories import POLICIES, SCHEMAS

CATALOGUE = json.loads((POLICIES / "safehub/fields/data.json").read_text())


def _record(full_name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{full_name}.avsc").read_text())
    return schema


def _field_type_name(field: dict[str, Any]) -> str | None:
    """The named record a field holds (nullable or not), or None for anything else."""
    types = field["type"] if isinstance(field["type"], list) else [field["type"]]
    for candidate in types:
        if (
            isinstance(candidate, str)
            and (SCHEMAS / f"{candidate}.avsc").exists()
            and _record(candidate)["type"] == "record"
        ):
            return candidate
    return None


def test_containers_match_the_gateways_redaction() -> None:
    assert set(CATALOGUE["containers"]) == CONTAINER_FIELDS


def test_catalogue_lists_every_notice_field() -> None:
    notice = _record("safehub.notice.SafeguardingNotice")
    expected: set[str] = set()
    for field in notice["fields"]:
        name = field["name"]
        if name == "detail":
            continue
        if name in CONTAINER_FIELDS:
            record = _record(_field_type_name(field) or "")
            expected |= {f"{name}.{child['name']}" for child in record["fields"]}
        else:
            expected.add(name)
    assert set(CATALOGUE["paths"]) == expected


def test_catalogue_lists_every_detail_field_per_notice_type() -> None:
    assert set(CATALOGUE["detail"]) == set(DETAIL_RECORD)
    for notice_type, record_name in DETAIL_RECORD.items():
        record = _record(record_name)
        expected = {f"detail.{field['name']}" for field in record["fields"]}
        assert set(CATALOGUE["detail"][notice_type]) == expected, notice_type


def test_groups_views_and_labels_name_catalogued_fields() -> None:
    known = set(CATALOGUE["paths"]) | {
        path for paths in CATALOGUE["detail"].values() for path in paths
    }
    for group, paths in CATALOGUE["groups"].items():
        assert set(paths) <= known, group
    assert set(CATALOGUE["labels"]) <= known
    rules = json.loads((POLICIES / "safehub/rules/data.json").read_text())
    names = known | set(CATALOGUE["groups"]) | {"ALL", "DETAIL"}
    for view, items in rules["views"].items():
        unknown = set(items) - names
        assert not unknown, (view, unknown)
