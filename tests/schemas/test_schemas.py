"""Schema rules: parse, document everything, logical types inside types, and stay
backward-transitive compatible with every released version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import avro.schema
import fastavro.schema
import pytest
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityResult,
    SchemaCompatibilityType,
)

from services.hubkit.codec import MessageType
from tests.factories import SCHEMAS

CURRENT = sorted(SCHEMAS.glob("*.avsc"))
RELEASES = sorted(p for p in (SCHEMAS / "released").iterdir() if p.is_dir())


def _walk(node: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields (path, node) for every dict in a schema."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def _expanded(path: Path) -> avro.schema.Schema:
    expanded = fastavro.schema.load_schema(str(path), _write_hint=False)
    return avro.schema.parse(json.dumps(expanded))


def _compatibility(
    reader: avro.schema.Schema, writer: avro.schema.Schema
) -> SchemaCompatibilityResult:
    # avro ships py.typed but leaves the checker's __init__ unannotated (no "-> None").
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    return checker.get_compatibility(reader, writer)


def test_there_are_schemas_and_a_baseline_release() -> None:
    assert len(CURRENT) >= 40
    assert RELEASES, "keep at least the baseline release under schemas/avro/released/"


@pytest.mark.parametrize("path", CURRENT, ids=lambda p: p.stem)
def test_schema_parses_and_file_is_named_after_its_type(path: Path) -> None:
    raw = json.loads(path.read_text())
    assert f"{raw['namespace']}.{raw['name']}" == path.stem
    fastavro.schema.load_schema(str(path))


def _is_field(where: str) -> bool:
    return where.split(".")[-1].startswith("fields[")


def _undocumented(raw: dict[str, Any]) -> list[str]:
    return [
        where
        for where, node in _walk(raw)
        if (
            (node.get("type") in ("record", "enum", "fixed") and "name" in node) or _is_field(where)
        )
        and not str(node.get("doc", "")).strip()
    ]


def _misplaced_logical_types(raw: dict[str, Any]) -> list[str]:
    """logicalType belongs on a primitive type object; on a field it is silently ignored."""
    return [
        where
        for where, node in _walk(raw)
        if "logicalType" in node and (_is_field(where) or not isinstance(node.get("type"), str))
    ]


@pytest.mark.parametrize("path", CURRENT, ids=lambda p: p.stem)
def test_every_named_type_and_field_has_a_doc(path: Path) -> None:
    assert not _undocumented(json.loads(path.read_text()))


@pytest.mark.parametrize("path", CURRENT, ids=lambda p: p.stem)
def test_logical_types_sit_inside_types(path: Path) -> None:
    assert not _misplaced_logical_types(json.loads(path.read_text()))


def test_structural_checks_catch_bad_schemas() -> None:
    bad = {
        "type": "record",
        "name": "Bad",
        "doc": "d",
        "fields": [
            {"name": "no_doc", "type": "string"},
            {"name": "at", "type": "long", "logicalType": "timestamp-millis", "doc": "d"},
            {"name": "ok", "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": "d"},
        ],
    }
    assert _undocumented(bad) == ["$.fields[0]"]
    assert _misplaced_logical_types(bad) == ["$.fields[1]"]


@pytest.mark.parametrize("message_type", list(MessageType), ids=lambda m: m.name)
@pytest.mark.parametrize("release", RELEASES, ids=lambda p: p.name)
def test_current_reads_every_released_writer(message_type: MessageType, release: Path) -> None:
    writer_path = release / f"{message_type.value}.avsc"
    if not writer_path.exists():  # type added after that release
        return
    reader = _expanded(SCHEMAS / f"{message_type.value}.avsc")
    result = _compatibility(reader, _expanded(writer_path))
    assert result.compatibility is SchemaCompatibilityType.compatible, result.messages


def test_the_compatibility_check_has_teeth(tmp_path: Path) -> None:
    """A new required field without a default must be caught."""
    for path in CURRENT:
        (tmp_path / path.name).write_text(path.read_text())
    target = tmp_path / "safehub.notice.SourceRecord.avsc"
    raw = json.loads(target.read_text())
    raw["fields"].append({"name": "added_without_default", "type": "string", "doc": "x"})
    target.write_text(json.dumps(raw))
    reader = _expanded(tmp_path / "safehub.notice.SafeguardingNotice.avsc")
    writer = _expanded(
        SCHEMAS / "released" / RELEASES[0].name / "safehub.notice.SafeguardingNotice.avsc"
    )
    result = _compatibility(reader, writer)
    assert result.compatibility is SchemaCompatibilityType.incompatible
