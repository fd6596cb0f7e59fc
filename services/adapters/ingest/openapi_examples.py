"""Complete request examples on each adapter's OpenAPI page, with the answers they get.

Each adapter lists, per operation ("POST /v1/occurrences"), whole records an integrator can
send as they are (synthetic data), and for an example that is refused, the exact problem
document it gets. `add_examples` puts each request under the operation's request body
`examples` and each documented answer under the response of its status, with the same name,
so a reader (and tests/adapters/integration/test_documented_examples.py, which posts every
one to the adapter) can pair them: an example with no documented answer is accepted (202).

An upload's example is its form fields, the CSV file's text under `file`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DocumentedAnswer", "RequestExample", "add_examples", "load_examples"]


@dataclass(frozen=True, slots=True)
class DocumentedAnswer:
    """The answer an example gets when it is not a plain 202: its status and whole body."""

    status: int
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RequestExample:
    summary: str
    value: Any
    answer: DocumentedAnswer | None = None


def add_examples(
    schema: dict[str, Any], examples: Mapping[str, Mapping[str, RequestExample]]
) -> None:
    """Put `examples` ({"POST /v1/x": {name: example}}) into the OpenAPI `schema` in place.
    An operation that is not in the schema is an error: an example must name a real route."""
    for operation_key, named in examples.items():
        method, _, path = operation_key.partition(" ")
        operation = schema["paths"][path][method.lower()]
        for media in operation["requestBody"]["content"].values():
            media["examples"] = {
                name: {"summary": example.summary, "value": example.value}
                for name, example in named.items()
            }
        for name, example in named.items():
            if example.answer is None:
                continue
            response = operation["responses"][str(example.answer.status)]
            content = response.setdefault("content", {}).setdefault("application/json", {})
            content.setdefault("examples", {})[name] = {
                "summary": example.summary,
                "value": dict(example.answer.body),
            }


def load_examples(path: Path) -> dict[str, dict[str, RequestExample]]:
    """An adapter's examples file (`examples.json` beside its app): operation -> name ->
    {"summary", "value", optional "answer": {"status", "body"}}."""
    document: dict[str, dict[str, dict[str, Any]]] = json.loads(path.read_text("utf-8"))
    return {
        operation: {
            name: RequestExample(
                summary=item["summary"],
                value=item["value"],
                answer=DocumentedAnswer(item["answer"]["status"], item["answer"]["body"])
                if "answer" in item
                else None,
            )
            for name, item in named.items()
        }
        for operation, named in document.items()
    }
