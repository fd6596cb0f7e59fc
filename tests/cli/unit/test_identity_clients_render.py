"""`safehub identity clients render` (services/cli/hub_clients.py): the declared registry holds
exactly the clients the services register with a local provider, and in a cluster (issuer not
on this machine) the services register nothing on their own disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from services.audit.settings import AuditSettings
from services.cli.adapters import ensure_adapter_index_clients
from services.cli.console import register_local_client
from services.cli.gateway import ensure_gateway_index_client
from services.cli.hub_clients import (
    ADAPTER_AGENCIES,
    ClientKind,
    hub_clients,
    registers_locally,
    registration_for,
)
from services.cli.ig import register_ig_clients
from services.console.settings import ConsoleSettings
from services.gateway.settings import GatewaySettings
from services.hubkit.jwt_keys import generate_key, load_key, public_jwks, write_private_key
from services.hubkit.settings import HubSettings
from services.identity.client_registry import parse_client_registry, render_client_registry
from services.identity.clients import FileClientRegistry
from services.identity.settings import IdentitySettings
from tests.factories import REPO


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HubSettings:
    for name in [n for n in os.environ if n.startswith("SAFEHUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHUB_DATA_DIR", str(tmp_path))
    return HubSettings()


def test_loopback_issuers_register_locally_others_do_not() -> None:
    assert registers_locally("http://127.0.0.1:18205")
    assert registers_locally("http://localhost:18205")
    assert not registers_locally("http://identity")
    assert not registers_locally("https://identity.safehub.svc")


def test_the_rendered_registry_is_what_the_services_register_locally(hub: HubSettings) -> None:
    # What a local stack does at start: each service registers itself (and makes its key).
    register_ig_clients(hub, AuditSettings())
    register_local_client(hub, ConsoleSettings())
    ensure_adapter_index_clients(hub, ADAPTER_AGENCIES)
    ensure_gateway_index_client(hub, GatewaySettings())
    state = IdentitySettings().resolved_state_dir(hub.data_dir)
    registered = FileClientRegistry(state / "clients")
    written = {p.stem for p in (state / "clients").glob("*.json")}

    clients = hub_clients(hub)
    assert {c.client_id for c in clients} == written
    declared = parse_client_registry(
        render_client_registry(
            registration_for(
                c,
                public_jwks(load_key(c.key_path)) if c.key_path is not None else {"keys": []},
            )
            for c in clients
        ),
        where="rendered",
    )
    for client_id, registration in declared.items():
        local = registered.get(client_id)
        assert local is not None
        assert {**registration.to_json(), "created_at": ""} == {
            **local.to_json(),
            "created_at": "",
        }, client_id


def test_in_a_cluster_the_services_write_no_registration(
    hub: HubSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("IDENTITY_ISSUER", "AUDIT_TOKEN_ISSUER", "CONSOLE_ISSUER"):
        monkeypatch.setenv(f"SAFEHUB_{name}", "http://identity")
    register_ig_clients(hub, AuditSettings())
    register_local_client(hub, ConsoleSettings())
    assert list(hub.data_dir.iterdir()) == []  # no state dir, no key made on this disk


def _cli(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHUB_")}
    env |= {
        "SAFEHUB_DATA_DIR": str(data_dir),
        "SAFEHUB_CONSOLE_BASE_URL": "https://console.safehub.example",
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", "identity", "clients", "render", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
    )


def test_the_cli_renders_a_configmap_from_a_folder_of_keys(hub: HubSettings) -> None:
    keys = hub.data_dir / "operator-keys"
    for client in hub_clients(hub):
        if client.kind is not ClientKind.DEVICE:
            write_private_key(keys / f"{client.client_id}.pem", generate_key())
    done = _cli(["--keys", str(keys)], hub.data_dir)
    assert done.returncode == 0, done.stderr
    configmap = yaml.safe_load(done.stdout)
    assert configmap["kind"] == "ConfigMap"
    assert configmap["metadata"]["name"] == "identity-clients"
    declared = parse_client_registry(configmap["data"]["clients.json"], where="configmap")
    assert set(declared) == {c.client_id for c in hub_clients(hub)}
    # Redirect URIs follow the environment the operator renders in.
    assert declared["safehub-console"].extra["redirect_uris"] == [
        "https://console.safehub.example/auth/callback"
    ]
    assert '"d"' not in done.stdout  # public halves only


def test_a_missing_key_is_named_in_one_line(hub: HubSettings) -> None:
    done = _cli(["--keys", str(hub.data_dir / "nothing-here")], hub.data_dir)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "safehub-console" in done.stderr
    assert "gateway-childindex.pem" in done.stderr


def test_a_key_of_another_kind_is_refused_in_one_line(hub: HubSettings) -> None:
    keys = hub.data_dir / "operator-keys"
    for client in hub_clients(hub):
        if client.kind is not ClientKind.DEVICE:
            write_private_key(keys / f"{client.client_id}.pem", generate_key())
    (keys / "safehub-console.pem").write_text("not a key")
    done = _cli(["--keys", str(keys)], hub.data_dir)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "safehub-console.pem is not an EC P-256 key" in done.stderr


def test_the_provider_refuses_to_start_without_its_registry_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHUB_")}
    env |= {
        "SAFEHUB_DATA_DIR": str(tmp_path),
        "SAFEHUB_IDENTITY_CLIENTS_FILE": str(tmp_path / "absent" / "clients.json"),
        "SAFEHUB_IDENTITY_PORT": "1",  # never reached
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "identity", "serve"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "absent/clients.json" in done.stderr
