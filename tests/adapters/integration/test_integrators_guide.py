"""Issue 21 item 5: docs/integrators.md is true. Every fenced block in it is run or checked,
in order, as a reader would go through it (tests/adapters/integration/guide.py says how):
the `safehub adapters client-credential` and `client-assertion` commands for real (into a
temporary data directory), the token request and every curl against the identity provider
and the adapters, the four adapters and the child index running in process on the real
broker, with the identity provider at the guide's own issuer URL so the client assertions
name the token endpoint the guide names. Each documented answer must match what comes back.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.adapters.ingest.settings import ADAPTER_PORTS, IDENTITY_PORT, AdapterSettings
from services.hubkit.jwt_algorithms import ACCEPTED_ALGORITHMS
from services.hubkit.settings import HubSettings
from services.hubkit.topology import Topology
from services.identity.settings import IdentitySettings
from tests.adapters.integration.conftest import Hub, running_hub
from tests.adapters.integration.guide import (
    CurlResult,
    Shell,
    blocks,
    matches,
    parse_answer,
)

pytestmark = pytest.mark.kafka

GUIDE = Path(__file__).parents[3] / "docs" / "integrators.md"
ISSUER = str(IdentitySettings.model_fields["issuer"].default)
# What differs on a reader's machine: the generated client id and the checkout's path.
DOC_CLIENT_ID = "police-3f9a1c2b"
DOC_DATA_DIR = "/path/to/safehub/var"


@pytest.fixture(scope="module")
async def guide_hub(
    stack: HubSettings, topology: Topology, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Hub]:
    state = tmp_path_factory.mktemp("guide")
    async with running_hub(stack, topology, state, issuer=ISSUER) as started:
        yield started


def _shell(hub: Hub, cwd: Path) -> Shell:
    safehub = shutil.which("safehub")
    assert safehub, "the `safehub` command is not installed (pip install -e .)"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SAFEHUB_")},
        "SAFEHUB_DATA_DIR": str(hub.state_dir),
        "SAFEHUB_IDENTITY_ISSUER": ISSUER,
        "SAFEHUB_IDENTITY_STATE_DIR": str(hub.state_dir / "identity"),
    }
    apps = {port: hub.adapters[agency] for agency, port in ADAPTER_PORTS.items()}
    apps[IDENTITY_PORT] = hub.identity

    async def send(port: int, request: httpx.Request) -> httpx.Response:
        assert port in apps, f"the guide sends to port {port}, which runs nothing here"
        client = apps[port]
        request.url = client.base_url.join(request.url.raw_path.decode())
        return await client.send(request)

    return Shell(safehub=[safehub], cwd=cwd, environ=environ, send=send)


def test_every_block_of_the_guide_is_marked() -> None:
    unmarked = [b.line for b in blocks(GUIDE.read_text("utf-8")) if b.marker is None]
    assert unmarked == [], f"fenced blocks without a <!-- guide: ... --> marker at {unmarked}"


async def test_the_guide_runs_as_written(guide_hub: Hub, tmp_path: Path) -> None:
    shell = _shell(guide_hub, guide_hub.state_dir)
    shell.variables["CSC_TOKEN"] = await guide_hub.token("CHILDRENS_SERVICES")
    replacements = {DOC_DATA_DIR: str(guide_hub.state_dir)}
    wrong: list[str] = []
    ran = 0
    for block in blocks(GUIDE.read_text("utf-8")):
        assert block.marker is not None
        body = block.body
        for documented, real in replacements.items():
            body = body.replace(documented, real)
        where = f"docs/integrators.md:{block.line}"
        kind, _, argument = block.marker.partition(" ")
        if kind == "run":
            shell.last = None
            await shell.run(body)
            ran += 1
            if isinstance(shell.last, str) and "client_id:" in shell.last:
                client_id = re.search(r"client_id:\s+(\S+)", shell.last)
                assert client_id
                replacements[DOC_CLIENT_ID] = client_id[1]
        elif kind == "answer":
            problem = _compare(body, shell.last)
            if problem:
                wrong.append(f"{where}: {problem}")
        elif kind == "file":
            (shell.cwd / argument).write_text(body + "\n", "utf-8")
        elif kind == "shape":
            problem = await _shape(guide_hub, argument.split()[0], body)
            if problem:
                wrong.append(f"{where}: {problem}")
        else:
            wrong.append(f"{where}: unknown marker {block.marker!r}")
    assert ran >= 8
    assert wrong == []

    # What step 2 says in prose about the assertion and the access token.
    _, assertion = _jwt(shell.variables["ASSERTION"])
    client_id = replacements[DOC_CLIENT_ID]
    assert (assertion["iss"], assertion["sub"]) == (client_id, client_id)
    assert assertion["aud"] == f"{ISSUER}/token"
    assert assertion["exp"] - assertion["iat"] == 120  # "valid 2 minutes"
    header, claims = _jwt(shell.variables["TOKEN"])
    assert (header["typ"], header["alg"]) == ("at+jwt", "ES256")
    assert claims["aud"] in ("safehub-ingest", ["safehub-ingest"])
    assert "notices:publish" in claims["scope"].split()
    assert claims["agency"] == "POLICE"
    assert claims["exp"] - claims["iat"] == 600  # "valid for 10 minutes"


async def test_every_adapter_answers_healthz_without_a_token(guide_hub: Hub) -> None:
    for agency, client in guide_hub.adapters.items():
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "agency": agency}


def _jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS, unverified (the adapters verify; this reads)."""
    header, payload, _ = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))),
        json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))),
    )


def _compare(documented: str, real: str | CurlResult | None) -> str | None:
    if isinstance(real, str):
        return None if real.rstrip("\n") == documented else f"documented\n{documented}\ngot\n{real}"
    if real is None:
        return "an answer with nothing run before it"
    answer = parse_answer(documented)
    got = (real.status, real.reason)
    if got != (answer.status, answer.reason):
        return f"status {got}, documented {(answer.status, answer.reason)}: {real.body}"
    for name, value in answer.headers.items():
        if real.headers.get(name) != value:
            return f"header {name}: {real.headers.get(name)!r}, documented {value!r}"
    body: Any = json.loads(real.body) if real.body else None
    if not matches(answer.body, body):
        return f"body {body}, documented {answer.body}"
    return None


async def _shape(hub: Hub, component: str, body: str) -> str | None:
    """A documented answer that is not produced here has exactly the fields its schema has."""
    schema = (await hub.adapters["POLICE"].get("/openapi.json")).json()["components"]["schemas"]

    def check(node: dict[str, Any], value: Any, path: str) -> str | None:
        if "$ref" in node:
            node = schema[node["$ref"].rsplit("/", 1)[-1]]
        if isinstance(value, dict):
            properties = node.get("properties", {})
            if set(value) != set(properties):
                return f"{path or '/'}: fields {sorted(value)}, schema {sorted(properties)}"
            for name, item in value.items():
                problem = check(properties[name], item, f"{path}/{name}")
                if problem:
                    return problem
        if isinstance(value, list) and isinstance(node.get("items"), dict):
            for index, item in enumerate(value):
                problem = check(node["items"], item, f"{path}/{index}")
                if problem:
                    return problem
        return None

    return check(schema[component], json.loads(body), "")


def test_the_guides_identity_provider_settings_are_the_adapters() -> None:
    """'Using your own identity provider': the table's defaults and the algorithms."""
    text = GUIDE.read_text("utf-8").split("## Using your own identity provider", 1)[1]
    rows = dict(re.findall(r"\| `SAFEHUB_ADAPTER_(\w+)` \| `([^`]*)` \|", text))
    settings = AdapterSettings()
    assert rows.pop("JWKS_URL").replace("<issuer>", settings.token_issuer) == (
        settings.resolved_jwks_url()
    )
    assert rows == {
        name: str(getattr(settings, name.lower()))
        for name in ("TOKEN_ISSUER", "TOKEN_AUDIENCE", "AGENCY_CLAIM")
    }
    signed = re.search(r"signed with ([^(]+) \(", text)
    assert signed
    assert re.findall(r"[A-Z]+\d+|Ed25519", signed[1]) == list(ACCEPTED_ALGORITHMS)


def test_the_guides_limits_are_the_adapters_defaults() -> None:
    """The Limits table: each setting's documented default is the adapters' default."""
    rows = re.findall(
        r"^\| [^|]+ \| ([^|]+) \| `SAFEHUB_ADAPTER_(\w+)` \|", GUIDE.read_text("utf-8"), re.M
    )
    assert len(rows) >= 7
    settings = AdapterSettings()
    for default, name in rows:
        exact = re.search(r"\(([\d,]+) bytes\)", default)
        number = re.match(r"([\d,]+)( MiB)?", default.strip())
        assert number, default
        value = int((exact or number)[1].replace(",", ""))
        if exact is None and number[2]:
            value *= 1024 * 1024
        assert getattr(settings, name.lower()) == value, name
