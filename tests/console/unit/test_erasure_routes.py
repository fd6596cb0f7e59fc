"""The console's erase routes (issue 18, routes/erasure.py) over the HTTP edge: the erasure
job's token (scope children:erase) is checked before the body is read, the child goes from
the stored projection and is no longer readable, a re-run and a child never delivered answer
0, and the other child stays."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import KeySet, OKPKey

from services.console.app import create_app
from services.console.projection_store import StoredProjection
from services.console.routes.erasure import MAX_BODY_BYTES
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.auth import (
    CHILD_ERASE_SCOPE,
    CHILD_SEARCH_SCOPE,
    StaticJwks,
    TokenValidator,
)
from services.hubkit.child_keys import ChildKeys
from services.hubkit.settings import HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from tests.audit.jwks import LocalIdp
from tests.console.app_fakes import FakeSignIn, Sent, feed_projections, page_runtime
from tests.console.factories import entry

ISSUER = "http://idp.test"
AUDIENCE = "safehub-ingest"
ERASED, KEPT = "a1" * 32, "b2" * 32
URL = "/v1/children/erasures"


@dataclass
class Console:
    http: httpx.AsyncClient
    idp: LocalIdp
    projection: StoredProjection

    def headers(self, scope: str = CHILD_ERASE_SCOPE, **claims: Any) -> dict[str, str]:
        token = self.idp.token(
            subject="erasure-job",
            roles=[],
            audience=AUDIENCE,
            issuer=ISSUER,
            agency="IG",
            scope=scope,
            client_id="erasure-job",
            **claims,
        )
        return {"Authorization": f"Bearer {token}"}


def _console(tmp_path: Path, *, validator: TokenValidator | None) -> Any:
    settings = ConsoleSettings(base_url="http://console.test", issuer=ISSUER)
    database = PrivateSqlite(tmp_path / "console.sqlite")
    keys = ChildKeys(b"a console store key, 32 bytes...", store="console")
    projections: dict[str, Any] = dict(feed_projections(settings))
    stored = StoredProjection(
        database,
        "mash-manager",
        topic="feed.mash-manager.v1",
        timescales=settings.timescales(),
        keys=keys,
    )
    projections["mash-manager"] = stored
    items = [entry(linkage_key=ERASED), entry(linkage_key=ERASED), entry(linkage_key=KEPT)]
    stored.apply_all(items, topic="feed.mash-manager.v1", partition=0, next_offset=3)

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield page_runtime(
            settings,
            sessions,
            projections=projections,
            signin=FakeSignIn(),
            sent=Sent(),
            database=database,
            child_keys=keys,
            service_tokens=validator,
        )

    return create_app(HubSettings(), settings, runtime=runtime), stored


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "console-test-idp"})
    validator = TokenValidator(
        jwks=StaticJwks(KeySet([OKPKey.import_key(key.as_dict(private=False))])),
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    app, stored = _console(tmp_path, validator=validator)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Console(http, LocalIdp(key=key, jwks_url="unused"), stored)


async def test_erase_then_unreadable_and_the_other_child_stays(console: Console) -> None:
    job = console.headers()
    for key in (ERASED, KEPT):
        answer = await console.http.get(f"{URL}/{key}", headers=job)
        assert answer.json() == {"store": "console_projection", "readable": True}

    erased = await console.http.post(URL, json={"subject_linkage_key": ERASED}, headers=job)
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"store": "console_projection", "erased": 2}
    again = await console.http.post(URL, json={"subject_linkage_key": ERASED}, headers=job)
    assert again.json() == {"store": "console_projection", "erased": 0}  # a re-run resumes
    never = await console.http.post(URL, json={"subject_linkage_key": "c3" * 32}, headers=job)
    assert never.json() == {"store": "console_projection", "erased": 0}

    for key, readable in ((ERASED, False), (KEPT, True), ("c3" * 32, False)):
        answer = await console.http.get(f"{URL}/{key}", headers=job)
        assert answer.json() == {"store": "console_projection", "readable": readable}
    assert console.projection.for_child(ERASED) == []
    assert len(console.projection.for_child(KEPT)) == 1


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"subject_linkage_key": "nope"}', b"x" * (MAX_BODY_BYTES + 1)],
)
async def test_the_token_is_checked_before_the_body(console: Console, body: bytes) -> None:
    send = {"content": body, "headers": {"content-type": "application/json"}}
    unauthenticated = await console.http.post(URL, **send)  # type: ignore[arg-type]
    assert unauthenticated.status_code == 401
    assert "Bearer" in unauthenticated.headers["www-authenticate"]
    wrong_scope = console.headers(scope=CHILD_SEARCH_SCOPE)
    forbidden = await console.http.post(
        URL, content=body, headers={**wrong_scope, "content-type": "application/json"}
    )
    assert forbidden.status_code == 403
    allowed = await console.http.post(
        URL, content=body, headers={**console.headers(), "content-type": "application/json"}
    )
    assert allowed.status_code == (413 if len(body) > MAX_BODY_BYTES else 422)
    assert allowed.headers["content-type"].startswith("application/problem+json")


async def test_readable_needs_the_scope_and_a_key(console: Console) -> None:
    assert (await console.http.get(f"{URL}/{KEPT}")).status_code == 401
    searcher = console.headers(scope=CHILD_SEARCH_SCOPE)
    assert (await console.http.get(f"{URL}/{KEPT}", headers=searcher)).status_code == 403
    other = console.headers(aud="safehub-console")  # a person's console token: not the job's
    assert (await console.http.get(f"{URL}/{KEPT}", headers=other)).status_code == 401
    bad = await console.http.get(f"{URL}/not-a-key", headers=console.headers())
    assert bad.status_code == 404


async def test_without_a_validator_the_routes_are_unavailable(tmp_path: Path) -> None:
    app, _ = _console(tmp_path, validator=None)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            answer = await http.post(URL, json={"subject_linkage_key": ERASED})
            assert answer.status_code == 503
