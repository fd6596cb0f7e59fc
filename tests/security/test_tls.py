"""Issue 13, defect 6: encryption in transit can be switched on, end to end.

A private stack (its own state directory, ports and bundle service; the shared stack is never
touched) is brought up by the project's own runner with TLS switched on the way an operator
would: SAFEHUB_KAFKA_SECURITY_PROTOCOL=SASL_SSL and an https:// SAFEHUB_OPA_URL. Then, against
those real processes:

- Kafka: an admin call, a produce and a read back over the SASL_SSL listener, verifying the
  stack's CA (the plaintext bootstrap is pointed at a closed port, so nothing can fall back);
  a client trusting another CA, and a SASL_PLAINTEXT client on the TLS port, are refused;
- OPA: the gateway's own engine (built from settings) decides a batch over HTTPS with the
  token, as regopy does; without the token, or with a wrong one, OPA answers 401 and the
  engine discloses nothing; plain HTTP and a client without the CA get no answer;
- HTTPS services: the identity provider under uvicorn with the stack's certificate serves
  its JWKS to the hub's own JWKS client over TLS; plain HTTP and an untrusting client fail.

Before this change there was no SASL_SSL listener, OPA served plain HTTP without
authentication, and the services had no TLS settings: every test here failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from services.gateway.bootstrap import build_engine
from services.gateway.engines import EngineAnswer, OpaEngine, RegopyEngine, bundle_revision
from services.gateway.errors import DecisionUnavailable
from services.gateway.settings import GatewaySettings
from services.hubkit.auth import JwksUnavailable, RemoteJwks
from services.hubkit.bus import TopicReader, admin_client, make_producer
from services.hubkit.http_server import SignalFreeServer
from services.hubkit.notice import to_json_value
from services.hubkit.settings import HubSettings
from services.hubkit.tls import http_client, opa_auth_headers, opa_ssl_context, server_tls_options
from services.hubkit.topology import ADMIN_PRINCIPAL
from services.identity.app import create_app as identity_app
from services.identity.settings import IdentitySettings
from services.stack import StackRunner
from services.stack.certificates import issue_local_certificates
from tests.gateway.notices import random_notices

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(180)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubSettings]:
    """A throwaway stack, TLS on, started and stopped by the real runner."""
    root = tmp_path_factory.mktemp("tls-stack")
    settings = HubSettings(
        data_dir=root,
        kafka_bootstrap=f"127.0.0.1:{_free_port()}",
        kafka_tls_bootstrap=f"127.0.0.1:{_free_port()}",
        kafka_controller_port=_free_port(),
        kafka_security_protocol="SASL_SSL",
        opa_url=f"https://127.0.0.1:{_free_port()}",
    )
    with pytest.MonkeyPatch.context() as env:
        # The bundle service's address is a policy-tool setting, read when the runner starts.
        env.setenv("SAFEHUB_POLICY_BUNDLE_SERVER_ADDR", f"127.0.0.1:{_free_port()}")
        runner = StackRunner(settings)
    try:
        runner.up()
        yield settings
    finally:
        runner.down()


@pytest.fixture(scope="module")
def clients(tls_stack: HubSettings) -> HubSettings:
    """What a service sees: SASL_SSL to the TLS listener only; the plaintext bootstrap points
    at a port nothing listens on, so a connection that did not use TLS could not succeed."""
    return tls_stack.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{_free_port()}"})


@pytest.fixture(scope="module")
def foreign_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another CA, as a client configured for some other deployment would trust."""
    path = tmp_path_factory.mktemp("foreign-ca") / "ca.pem"
    path.write_text(issue_local_certificates(dt.datetime.now(dt.UTC)).ca_certificate)
    return path


# --- Kafka ------------------------------------------------------------------------------------


async def test_round_trip_over_sasl_ssl_verifying_the_ca(clients: HubSettings) -> None:
    topic = f"tls-roundtrip-{uuid.uuid4().hex[:10]}"
    admin = admin_client(clients, ADMIN_PRINCIPAL)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = make_producer(clients, ADMIN_PRINCIPAL)
    await producer.start()
    try:
        sent = [f"notice {n} over TLS".encode() for n in range(3)]
        for value in sent:
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()
    reader = await TopicReader(clients, ADMIN_PRINCIPAL, topic, partitions=1).start(
        from_beginning=True
    )
    try:
        records = await reader.read_until(lambda got: len(got) >= 3, timeout_s=20)
    finally:
        await reader.stop()
    assert [r.value for r in records] == sent


async def _refused(settings: HubSettings) -> BaseException:
    producer = make_producer(settings, ADMIN_PRINCIPAL)
    try:
        with pytest.raises((KafkaConnectionError, KafkaError)) as refused:
            await asyncio.wait_for(producer.start(), timeout=30)
    finally:
        await producer.stop()
    error: BaseException = refused.value  # aiokafka is untyped: its errors are Any to mypy
    return error


async def test_a_client_that_does_not_trust_the_ca_is_refused(
    clients: HubSettings, foreign_ca: Path
) -> None:
    await _refused(clients.model_copy(update={"tls_ca_file": foreign_ca}))


async def test_a_plaintext_client_on_the_tls_listener_is_refused(clients: HubSettings) -> None:
    await _refused(
        clients.model_copy(
            update={
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_bootstrap": clients.kafka_tls_bootstrap,
            }
        )
    )


# --- OPA --------------------------------------------------------------------------------------


def _inputs() -> list[dict[str, Any]]:
    return [to_json_value(n) for n in random_notices(seed=13_06, count=12)]


async def test_the_gateway_engine_decides_over_https_with_the_token(
    tls_stack: HubSettings,
) -> None:
    engine = build_engine(tls_stack, GatewaySettings(engine="opa", decision_timeout_s=30))
    try:
        answers = await engine.evaluate_many(_inputs())
    finally:
        await engine.close()
    assert all(isinstance(a, EngineAnswer) for a in answers), answers
    regopy = RegopyEngine(tls_stack.policies_dir)
    expected = [regopy.evaluate_sync({"notice": n}).result for n in _inputs()]
    assert [a.result for a in answers if isinstance(a, EngineAnswer)] == expected
    # The revision OPA reports having evaluated: the signed bundle, not our own copy.
    assert all(
        isinstance(a, EngineAnswer) and not a.policy_revision.startswith("unconfirmed:")
        for a in answers
    )


@pytest.mark.parametrize("token", [None, "not-the-token-" + "0" * 24])
async def test_opa_refuses_a_query_without_the_right_token(
    tls_stack: HubSettings, token: str | None
) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    url = f"{tls_stack.opa_url}/v1/data/safehub/sharing/decisions"
    async with httpx.AsyncClient(verify=opa_ssl_context(tls_stack) or True) as http:
        response = await http.post(url, json={"input": {"notice": _inputs()[0]}}, headers=headers)
    assert response.status_code == 401
    assert "result" not in response.json()
    # The gateway's engine without the token decides nothing (fails closed), it never guesses.
    engine = OpaEngine(
        tls_stack.opa_url,
        timeout_s=30,
        revision=bundle_revision(tls_stack.policies_dir),
        ssl_context=opa_ssl_context(tls_stack),
        headers=headers,
    )
    try:
        answers = await engine.evaluate_many(_inputs()[:2])
    finally:
        await engine.close()
    assert all(isinstance(a, DecisionUnavailable) and a.kind == "rejected_query" for a in answers)


async def test_opa_answers_neither_plain_http_nor_an_untrusting_client(
    tls_stack: HubSettings, foreign_ca: Path
) -> None:
    headers = opa_auth_headers(tls_stack)  # even with the right token
    plain = tls_stack.opa_url.replace("https://", "http://")
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{plain}/v1/data/safehub/isa", headers=headers)
    assert response.status_code == 400  # Go's TLS server: "client sent an HTTP request..."
    assert "result" not in response.text
    untrusting = http_client(tls_stack.model_copy(update={"tls_ca_file": foreign_ca}))
    async with untrusting:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusting.get(f"{tls_stack.opa_url}/v1/data/safehub/isa", headers=headers)


# --- HTTPS services ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _https_identity(hub: HubSettings, state: Path) -> AsyncIterator[str]:
    """The identity provider under uvicorn with the TLS settings a service reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"https://127.0.0.1:{sock.getsockname()[1]}"
    identity = IdentitySettings(issuer=base, state_dir=state)
    config = uvicorn.Config(
        identity_app(hub, identity), lifespan="on", log_level="warning", **server_tls_options(hub)
    )
    server = SignalFreeServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped during startup")
            assert time.monotonic() < deadline, "identity provider did not start"
            await asyncio.sleep(0.05)
        yield base
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_the_identity_provider_serves_https_to_the_hubs_own_clients(
    tls_stack: HubSettings, foreign_ca: Path, tmp_path: Path
) -> None:
    layout = StackRunner(tls_stack).layout
    served = tls_stack.model_copy(
        update={"tls_cert_file": layout.server_certificate, "tls_key_file": layout.server_key}
    )
    async with _https_identity(served, tmp_path / "identity") as base:
        jwks_url = f"{base}/.well-known/jwks.json"
        async with http_client(served) as http:
            keys = await RemoteJwks(jwks_url, client=http).key_set()
            assert keys.keys, "the JWKS came back empty"
            health = await http.get(f"{base}/.well-known/openid-configuration")
            assert health.status_code == 200
            assert health.json()["issuer"] == base
        async with http_client(served.model_copy(update={"tls_ca_file": foreign_ca})) as http:
            with pytest.raises(JwksUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
                await RemoteJwks(jwks_url, client=http).key_set()
        plain = base.replace("https://", "http://")
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.HTTPError):
                await http.get(f"{plain}/.well-known/jwks.json")
