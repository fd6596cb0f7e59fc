"""Reading an adapter's OpenAPI document the way an integrator's tooling would: the request
examples of every operation (with the answer documented for each), and, for each `enum` a
request schema publishes, the places in those examples where a value of it is sent.

Shared by test_documented_examples.py (post every example) and test_code_lists.py (every
enum is what the adapter accepts)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "DocumentedExample",
    "EnumUse",
    "documented_examples",
    "enum_uses",
    "post_example",
    "row_schema_name",
]

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class DocumentedExample:
    method: str
    path: str
    media_type: str
    name: str
    value: Any
    answer: tuple[int, Any] | None
    """(status, body) documented under the operation's responses with the same name."""


def documented_examples(schema: dict[str, Any]) -> list[DocumentedExample]:
    found: list[DocumentedExample] = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media_type, body in content.items():
                for name, example in body.get("examples", {}).items():
                    found.append(
                        DocumentedExample(
                            method=method.upper(),
                            path=path,
                            media_type=media_type,
                            name=name,
                            value=example["value"],
                            answer=_answer(operation, name),
                        )
                    )
    return found


def _answer(operation: dict[str, Any], name: str) -> tuple[int, Any] | None:
    for status, response in operation.get("responses", {}).items():
        for media in response.get("content", {}).values():
            if name in media.get("examples", {}):
                return int(status), media["examples"][name]["value"]
    return None


async def post_example(
    client: httpx.AsyncClient, token: str, example: DocumentedExample, value: Any = None
) -> httpx.Response:
    """Send an example as an integrator would: JSON with its media type; an upload as
    multipart, the CSV text as the `file` part and the other members as form fields."""
    document = example.value if value is None else value
    headers = {"Authorization": f"Bearer {token}"}
    if example.media_type == "multipart/form-data":
        fields = {k: v for k, v in document.items() if k != "file"}
        files = {"file": ("example.csv", document["file"].encode("utf-8"), "text/csv")}
        return await client.post(example.path, headers=headers, data=fields, files=files)
    headers["Content-Type"] = example.media_type
    return await client.post(example.path, headers=headers, content=json.dumps(document))


def row_schema_name(schema: dict[str, Any], example: DocumentedExample) -> str | None:
    """The component an upload's rows follow, as the operation's description names it."""
    if example.media_type != "multipart/form-data":
        return None
    description = schema["paths"][example.path]["post"]["description"]
    names = [n for n in ("Ssda903MissingRow", "VcsUpdateForm") if n in description]
    assert len(names) == 1, f"{example.path} must name the schema of its rows"
    return names[0]


@dataclass(frozen=True)
class EnumUse:
    """An enum of a request schema, and one place in an example where a value of it goes."""

    where: str
    """Component (a named enum) or Component.property[...] (an enum on a field)."""
    codes: tuple[Any, ...]
    example: DocumentedExample
    path: Path
    """In the example's JSON document, or (an upload) (row index, column)."""


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def csv_text(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def enum_uses(schema: dict[str, Any]) -> dict[str, list[EnumUse]]:
    """Every enum reachable from a request body, by where it is defined, with the places the
    operations' examples send a value of it (an empty list: no example exercises it)."""
    uses: dict[str, list[EnumUse]] = {}
    components = schema["components"]["schemas"]
    for example in documented_examples(schema):
        if example.media_type == "multipart/form-data":
            row_schema = row_schema_name(schema, example)
            assert row_schema is not None
            for index, row in enumerate(csv_rows(example.value["file"])):
                for where, codes, path in _walk(components, {"$ref": row_schema}, row, ()):
                    uses.setdefault(where, []).append(
                        EnumUse(where, codes, example, (index, *path))
                    )
            continue
        body = schema["paths"][example.path][example.method.lower()]["requestBody"]
        node = body["content"][example.media_type]["schema"]
        for where, codes, path in _walk(components, node, example.value, ()):
            uses.setdefault(where, []).append(EnumUse(where, codes, example, path))
    for where in _declared(schema):
        uses.setdefault(where, [])
    return uses


def _declared(schema: dict[str, Any]) -> Iterator[str]:
    """Every enum of every request schema, and every named enum (a code list), whether or
    not an example reaches it."""
    components = schema["components"]["schemas"]
    yield from (name for name, node in components.items() if "enum" in node)
    seen: set[str] = set()
    roots: list[dict[str, Any]] = []
    for operations in schema["paths"].values():
        for operation in operations.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                roots.append(media["schema"])
    for name in ("Ssda903MissingRow", "VcsUpdateForm"):
        if name in components:
            roots.append({"$ref": name})
    stack: list[tuple[dict[str, Any], str]] = [(r, "") for r in roots]
    while stack:
        node, owner = stack.pop()
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                continue
            seen.add(name)
            stack.append((components[name], name))
            continue
        if "enum" in node:
            yield owner
            continue
        for key in ("anyOf", "oneOf", "allOf"):
            stack.extend((branch, owner) for branch in node.get(key, []))
        for prop, sub in node.get("properties", {}).items():
            stack.append((sub, f"{owner}.{prop}"))
        if isinstance(node.get("items"), dict):
            stack.append((node["items"], f"{owner}[]"))


def _walk(
    components: dict[str, Any], node: dict[str, Any], value: Any, path: Path, owner: str = ""
) -> Iterator[tuple[str, tuple[Any, ...], Path]]:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        yield from _walk(components, components[name], value, path, name)
        return
    if "enum" in node:
        if value is not None:
            yield owner, tuple(node["enum"]), path
        return
    if "discriminator" in node and isinstance(value, dict):
        tag = value.get(node["discriminator"]["propertyName"])
        target = node["discriminator"]["mapping"].get(tag)
        if target is not None:
            yield from _walk(components, {"$ref": target}, value, path, owner)
        return
    for key in ("anyOf", "oneOf"):
        if key in node and value is not None:
            for branch in node[key]:
                if branch.get("type") != "null":
                    yield from _walk(components, branch, value, path, owner)
                    break
            return
    if isinstance(value, dict):
        for prop, sub in node.get("properties", {}).items():
            if prop in value:
                yield from _walk(components, sub, value[prop], (*path, prop), f"{owner}.{prop}")
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            yield from _walk(components, node["items"], item, (*path, index), f"{owner}[]")
