"""The CP-IS lookup against the real broker, with the real identity provider (in process).

A CSC_STATUS_CHANGE "CP plan started" for a synthetic child reaches the register's feed as
the gateway delivers it: the notice in JSON form redacted to the register's view, in a
FeedItem signed with the hub's gateway key, written as the gateway principal to
feed.cpis-register.v1. (The gateway's own routing of plan changes to the register is the
policy's part, rule R13; its Rego is tested under policies/.) Then:

- the service, reading its feed as feed-cpis-register, indexes the child;
- an unscheduled care clinician, signed in at the identity provider (authorization code +
  PKCE), looks the child up and gets only the CP-IS minimum;
- a MASH manager's token is refused (403);
- the access notification appears on notices.cpis.v1, signed by adapter-cpis, routed by
  nothing but the child's linkage key.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord

from services.childindex.domain import LinkageKeyer
from services.cli.cpis import DEV_CLIENT_ID, sign_in
from services.cpis.api import create_app as cpis_app
from services.cpis.bootstrap import running_cpis
from services.cpis.service import CpisRuntime
from services.cpis.settings import CpisSettings
from services.hubkit.auth import PersonTokenValidator, RemoteJwks
from services.hubkit.bus import make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key, open_envelope
from services.hubkit.jwt_keys import load_key
from services.hubkit.notice import notice_id_for
from services.hubkit.settings import HubSettings
from services.hubkit.topology import GATEWAY_PRINCIPAL, Topology
from services.identity.app import create_app as identity_app
from services.identity.clients import ensure_signin_client
from services.identity.settings import IdentitySettings
from services.identity.users import (
    DEFAULT_USERS_FILE,
    UserDirectory,
    load_dev_passwords,
    provision_credentials,
)
from services.synthetic.notices import synthetic_nhs_number
from tests.cpis.factories import LA, csc_notice, register_feed_item, signed
from tests.integration.bus import TopicReader, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

ISSUER = "http://identity.test"
REDIRECT = "http://cpis.test/dev/callback"


@dataclass
class Running:
    hub: HubSettings
    topology: Topology
    cpis: httpx.AsyncClient
    runtime: CpisRuntime
    tokens: dict[str, str]


@pytest.fixture
async def running(stack: HubSettings, topology: Topology, tmp_path: Path) -> AsyncIterator[Running]:
    hub = stack
    identity = IdentitySettings(issuer=ISSUER, state_dir=tmp_path / "identity")
    client_key = tmp_path / "cpis-dev-client.pem"
    ensure_signin_client(
        state_dir=tmp_path / "identity",
        private_key_path=client_key,
        client_id=DEV_CLIENT_ID,
        agency="HEALTH",
        redirect_uris=(REDIRECT,),
        resources=("safehub-cpis",),
    )
    provision_credentials(tmp_path / "identity", UserDirectory.load(DEFAULT_USERS_FILE))
    passwords = load_dev_passwords(tmp_path / "identity")
    idp = identity_app(HubSettings(data_dir=tmp_path), identity)
    async with idp.router.lifespan_context(idp):
        idp_transport = httpx.ASGITransport(app=idp)
        async with httpx.AsyncClient(transport=idp_transport, base_url=ISSUER) as idp_http:
            tokens = {
                username: await sign_in(
                    idp_http,
                    issuer=ISSUER,
                    client_id=DEV_CLIENT_ID,
                    client_key=load_key(client_key),
                    redirect_uri=REDIRECT,
                    username=username,
                    password=passwords[username],
                )
                for username in ("ed.clinician", "mash.manager")
            }
            settings = CpisSettings(
                token_issuer=ISSUER,
                database_path=tmp_path / "cpis" / "register.db",
                store_key_path=tmp_path / "cpis" / "store.key",
                outbox_retry_s=0.5,
            )
            validator = PersonTokenValidator(
                jwks=RemoteJwks(identity.jwks_uri, client=idp_http),
                issuer=ISSUER,
                audience=settings.token_audience,
            )
            app = cpis_app(lambda: running_cpis(hub, settings, validator=validator))
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://cpis.test") as c:
                    yield Running(hub, topology, c, app.state.runtime, tokens)


async def _deliver_to_register(hub: HubSettings, notice: dict[str, Any]) -> None:
    """Write the register's feed item for `notice` as the gateway does: hub-signed."""
    catalog = SchemaCatalog(hub.schemas_dir)
    value = signed(
        catalog, load_signing_key(hub.keys_dir, GATEWAY_PRINCIPAL), register_feed_item(notice)
    )
    producer = make_producer(hub, GATEWAY_PRINCIPAL)
    await producer.start()
    try:
        await producer.send_and_wait(
            "feed.cpis-register.v1",
            value=value,
            key=str(notice["subject"]["linkage_key"]).encode(),
        )
    finally:
        await producer.stop()


async def test_a_clinician_looks_a_child_up_and_the_owning_la_is_notified(
    running: Running,
) -> None:
    hub = running.hub
    nhs_number = synthetic_nhs_number(random.Random(secrets.randbits(64)))
    linkage_key = LinkageKeyer(secrets.token_bytes(32)).key_for(nhs_number=nhs_number)
    notice = csc_notice("CP_PLAN_STARTED", nhs_number=nhs_number)
    notice["subject"]["linkage_key"] = linkage_key
    # A new source record each run: the register applies each notice id once, ever.
    reference = f"CS-TEST-{secrets.token_hex(6)}"
    notice["source"]["source_reference"] = reference
    notice["notice_id"] = notice_id_for(
        agency="CHILDRENS_SERVICES", organisation_code=LA, source_reference=reference
    )

    notices_cpis = await TopicReader(hub, "admin", "notices.cpis.v1").start()
    try:
        await _deliver_to_register(hub, notice)
        store = running.runtime.store
        assert await wait_for(lambda: bool(store.plans(nhs_number)), timeout_s=60), (
            "the register did not index the plan from its feed"
        )
        assert store.feed_positions("feed.cpis-register.v1")  # its place in the feed is kept
        url = f"/cpis/children/{nhs_number}"

        refused = await running.cpis.get(
            url,
            params={"setting": "ED"},
            headers={"Authorization": f"Bearer {running.tokens['mash.manager']}"},
        )
        assert refused.status_code == 403, refused.text

        answer = await running.cpis.get(
            url,
            params={"setting": "ED"},
            headers={"Authorization": f"Bearer {running.tokens['ed.clinician']}"},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"nhs_number", "plans", "accesses"}
        (plan,) = body["plans"]
        assert plan == {
            "plan_type": "CHILD_PROTECTION_PLAN",
            "plan_start": notice["detail"]["effective_date"].isoformat(),
            "plan_end": None,
            "responsible_la_contact": "Duty social worker, Synthetic Borough Children's "
            "Services, 0300 000 0004",
        }
        (access,) = body["accesses"]
        assert (access["setting"], access["organisation"]) == ("ED", "NHS-RXX00")
        text = json.dumps(body)
        for withheld in (notice["subject"]["given_name"], "NEG", linkage_key, "Emery"):
            assert withheld not in text

        def found(records: list[ConsumerRecord]) -> bool:
            return any(r.key == linkage_key.encode() for r in records)

        records = await notices_cpis.read_until(found, timeout_s=30)
    finally:
        await notices_cpis.stop()
    (record,) = [r for r in records if r.key == linkage_key.encode()]
    catalog = SchemaCatalog(hub.schemas_dir)
    verified = open_envelope(catalog, record.value, KeyDirectory.load(hub.keys_dir / "trusted"))
    assert verified.owner == running.topology.agency("CPIS").principal == "adapter-cpis"
    sent = catalog.decode(verified.payload, MessageType.NOTICE)
    assert sent["notice_type"] == "HEALTH_SAFEGUARDING_ALERT"
    assert sent["source"]["agency"] == "CPIS"
    assert sent["classification"] == "OFFICIAL_SENSITIVE"
    assert sent["subject"]["nhs_number"] == nhs_number
    assert sent["subject"]["responsible_la"] == "LA-E09000099"
    assert sent["subject"]["given_name"] == ""
    detail = sent["detail"]
    assert detail["unscheduled_care"] is True
    assert detail["setting"] == "ED"
    assert detail["clinical_detail"] == ""
    assert detail["cpis_flag"]["plan_type"] == "CHILD_PROTECTION_PLAN"
    assert detail["cpis_flag"]["responsible_la_contact"] == plan["responsible_la_contact"]
    assert sent["contact_point"]["role"] == "Safeguarding children team"
    assert running.runtime.store.pending_notifications(limit=10) == []
