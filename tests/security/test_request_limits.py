"""Attacks on the ingest edge over real HTTP (issue 13, defect 5): the token is checked before
the body is read, bodies are bounded before and while they are read, and deep JSON, huge CSV
cells and spoofing characters in names are refused with problem documents, never a 500."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from services.adapters.ingest.csv_batch import csv_columns
from services.adapters.voluntary_sector.models import VcsUpdateForm
from services.synthetic.native import NativeRecords
from tests.factories import FIXED_NOW
from tests.security.conftest import RUN, Served

pytestmark = pytest.mark.kafka

EIGHT_MIB = 8 * 1024 * 1024
OCCURRENCES = "/v1/occurrences"
UPLOAD = "/v1/updates/csv"
PROBLEM = "application/problem+json"


def _record(seed: int, agency: str = "POLICE") -> dict[str, Any]:
    return NativeRecords(seed=seed, now=FIXED_NOW, run=RUN).record(agency)


async def _client(served: Served, agency: str = "POLICE") -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=served.urls[agency], timeout=30)


async def _raw_status(url: str, head: str, body_part: bytes = b"") -> tuple[int, bytes]:
    """Send the request head and at most `body_part` of the declared body, then read the
    answer. Answering at all proves the server did not wait to read the rest of the body."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head.encode("latin-1") + body_part)
        await writer.drain()
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        status = int(head_bytes.split(b" ", 2)[1])
        return status, head_bytes
    finally:
        writer.close()
        # The server may reset a connection whose declared body never came; that is fine.
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _head(path: str, length: int, token: str | None = None) -> str:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n{auth}\r\n"
    )


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith(PROBLEM)
    document: dict[str, Any] = response.json()
    assert document["status"] == status
    assert document["type"].startswith("https://safehub.example/problems/")
    return document


async def test_guarded_server_still_publishes_a_valid_record(served: Served) -> None:
    token = await served.token("POLICE")
    async with await _client(served) as client:
        response = await client.post(
            OCCURRENCES, json=_record(1301), headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 202, response.text


async def test_8mib_body_without_token_is_401_quickly(served: Served) -> None:
    body = b"[" + b"0," * (EIGHT_MIB // 2 - 2) + b"0]"
    started = time.monotonic()
    async with await _client(served) as client:
        response = await client.post(
            OCCURRENCES, content=body, headers={"Content-Type": "application/json"}
        )
    elapsed = time.monotonic() - started
    document = _assert_problem(response, 401)
    assert document["errors"] == []
    assert response.headers["www-authenticate"].startswith('Bearer realm="safehub"')
    assert elapsed < 5, elapsed


async def test_8mib_body_without_token_is_refused_before_it_is_sent(served: Served) -> None:
    # 8 MiB declared, 64 KiB sent: the answer comes while 99% of the body is still unsent.
    status, head = await _raw_status(
        served.urls["POLICE"] + OCCURRENCES, _head(OCCURRENCES, EIGHT_MIB), b"{" * 65536
    )
    assert status == 401, head
    assert b"application/problem+json" in head


async def test_declared_oversize_body_with_token_is_413_before_it_is_sent(
    served: Served,
) -> None:
    token = await served.token("POLICE")
    status, head = await _raw_status(
        served.urls["POLICE"] + OCCURRENCES, _head(OCCURRENCES, EIGHT_MIB, token)
    )
    assert status == 413, head
    assert b"application/problem+json" in head


async def test_oversize_body_with_token_is_413_problem(served: Served) -> None:
    token = await served.token("POLICE")
    body = json.dumps({**_record(1302), "summary": "x" * (served.settings.max_json_bytes)})
    async with await _client(served) as client:
        response = await client.post(
            OCCURRENCES,
            content=body.encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    document = _assert_problem(response, 413)
    assert document["type"] == "https://safehub.example/problems/body-too-large"
    assert str(served.settings.max_json_bytes) in document["detail"]


async def test_chunked_oversize_body_with_token_is_413(served: Served) -> None:
    token = await served.token("POLICE")
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(EIGHT_MIB // 65536):
            sent += 65536
            yield b" " * 65536

    async with await _client(served) as client:
        # No Content-Length: httpx streams it with Transfer-Encoding: chunked.
        response = await client.post(
            OCCURRENCES,
            content=chunks(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    assert "content-length" not in response.request.headers
    _assert_problem(response, 413)


async def test_malformed_json_without_token_is_401_not_422(served: Served) -> None:
    async with await _client(served) as client:
        response = await client.post(
            OCCURRENCES, content=b'{"record_type": ', headers={"Content-Type": "application/json"}
        )
    document = _assert_problem(response, 401)
    assert document["errors"] == []  # nothing about the body leaks before authentication


async def test_200_deep_json_with_token_is_422(served: Served) -> None:
    token = await served.token("POLICE")
    body = '{"a":' * 200 + "1" + "}" * 200
    async with await _client(served) as client:
        response = await client.post(
            OCCURRENCES,
            content=body.encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    document = _assert_problem(response, 422)
    (error,) = document["errors"]
    assert error["code"] == "nesting_too_deep"
    assert str(served.settings.max_json_depth) in error["message"]


def _csv_with_cell(cell_chars: int) -> bytes:
    columns, _, _ = csv_columns(VcsUpdateForm)
    row = ["x"] * len(columns)
    row[columns.index("given_name")] = "A" * cell_chars
    return (",".join(columns) + "\r\n" + ",".join(row) + "\r\n").encode()


@pytest.mark.parametrize("cell_chars", [25_000, 200_000])
async def test_very_long_csv_cell_is_422(served: Served, cell_chars: int) -> None:
    # 25,000: over the adapter's cell limit; 200,000: over the csv module's own limit too
    # (which used to escape as a 500).
    token = await served.token("VOLUNTARY_SECTOR")
    async with await _client(served, "VOLUNTARY_SECTOR") as client:
        response = await client.post(
            UPLOAD,
            files={"file": ("updates.csv", _csv_with_cell(cell_chars), "text/csv")},
            headers={"Authorization": f"Bearer {token}"},
        )
    document = _assert_problem(response, 422)
    assert document["type"] == "https://safehub.example/problems/invalid-batch"
    (error,) = document["errors"]
    assert error["code"] == "cell_too_long"
    assert f"{served.settings.max_csv_cell_chars}" in error["message"]


@pytest.mark.parametrize("control", ["\u202e", "\u2066", "\u200f", "\x07"])
async def test_name_with_bidi_or_control_character_is_422(served: Served, control: str) -> None:
    token = await served.token("POLICE")
    record = _record(1303)
    record["subject"]["given_name"] = f"Av{control}ery"
    async with await _client(served) as client:
        response = await client.post(
            OCCURRENCES, json=record, headers={"Authorization": f"Bearer {token}"}
        )
    document = _assert_problem(response, 422)
    (error,) = document["errors"]
    assert error["pointer"] == "/subject/given_name"
    assert error["code"] in ("name_bidi_control", "name_control_character")
    assert control not in response.text
    assert "Av" not in error["message"]
