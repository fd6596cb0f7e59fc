"""Behind an ingress: the IG officer's browser reaches the identity provider at its public
issuer, the IG API reaches it at its Service (SAFEHUB_AUDIT_IDENTITY_URL). The sign-in still
completes, the token names the public issuer, and the IG API accepts it (deploy/k8s/base
ingress.yaml). The ingress itself is played by the test: the browser's request to the public
name is sent to the provider's loopback address, as the ingress controller would route it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from services.audit.api import create_app
from services.audit.settings import AuditSettings
from services.hubkit.settings import HubSettings
from services.identity.clients import ensure_signin_client
from tests.identity.served import password_of, served_identity

# http: the test plays the ingress without TLS, and the sign-in cookie is Secure under https.
PUBLIC_ISSUER = "http://identity.safehub.invalid"
AUDIT_URL = "https://audit.safehub.invalid"
PAGE = "/v1/record-of-processing"
HTML = {"accept": "text/html"}


@dataclass
class Hub:
    audit: httpx.AsyncClient
    browser_to_idp: httpx.AsyncClient  # through "the ingress": public name -> the provider
    state_dir: Path


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    with served_identity(tmp_path, public_issuer=PUBLIC_ISSUER) as service_url:
        data = HubSettings(data_dir=tmp_path)
        settings = AuditSettings(
            database_url=f"sqlite:///{tmp_path / 'audit.db'}",
            token_issuer=PUBLIC_ISSUER,
            identity_url=service_url,
            public_url=AUDIT_URL,
        )
        state_dir = tmp_path / "identity"
        ensure_signin_client(
            state_dir=state_dir,
            private_key_path=settings.resolved_signin_client_key(data),
            client_id=settings.signin_client_id,
            agency="IG",
            redirect_uris=(settings.signin_redirect_uri,),
            resources=(settings.token_audience,),
        )
        app = create_app(settings, data)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=AUDIT_URL) as audit,
            httpx.AsyncClient(base_url=service_url, timeout=30) as idp,
        ):
            yield Hub(audit, idp, state_dir)


async def test_an_ig_officer_signs_in_through_the_public_issuer(hub: Hub) -> None:
    to_idp = await hub.audit.get("/ig/sign-in", headers=HTML)
    assert to_idp.status_code == 303, to_idp.text
    authorize = to_idp.headers["location"]
    # The browser is sent to the name it can reach, never to the provider's Service.
    assert authorize.startswith(f"{PUBLIC_ISSUER}/authorize?")
    path = urlsplit(authorize)._replace(scheme="", netloc="").geturl()
    form = await hub.browser_to_idp.get(path)
    txn = re.search(r'name="txn" value="([^"]+)"', form.text)
    assert txn is not None, form.text
    back = await hub.browser_to_idp.post(
        "/authorize",
        data={
            "txn": txn.group(1),
            "username": "ig.officer",
            "password": password_of(hub.state_dir, "ig.officer"),
        },
    )
    assert back.status_code == 303, back.text
    callback = back.headers["location"]
    assert callback.startswith(f"{AUDIT_URL}/ig/callback?")
    # The IG API redeems the code at the provider's Service, with an assertion addressed there.
    done = await hub.audit.get(callback.removeprefix(AUDIT_URL), headers=HTML)
    assert done.status_code == 303, done.text
    page = await hub.audit.get(PAGE)
    assert page.status_code == 200, page.text
