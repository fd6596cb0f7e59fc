"""`safehub console serve` and `safehub demo` register the console with the local identity
provider: its sign-in client and its own client for the child index's review queue."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from services.cli.console import register_local_client
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings


@pytest.fixture(autouse=True)
def _local_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SAFEHUB_IDENTITY_ISSUER", "SAFEHUB_IDENTITY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_the_console_gets_its_own_child_index_client(tmp_path: Path) -> None:
    hub = HubSettings(data_dir=tmp_path)
    console = ConsoleSettings()
    register_local_client(hub, console)
    register_local_client(hub, console)  # idempotent: starting again changes nothing
    clients = tmp_path / "identity" / "clients"
    registered = json.loads((clients / "console-childindex.json").read_text())
    assert registered["scopes"] == ["children:review", "children:keys", "children:search"]
    assert registered["grant_types"] == ["client_credentials"]
    assert registered["agency"] == "MASH"
    key = tmp_path / "console" / "console-childindex.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE" not in json.dumps(registered)  # public keys only
    assert (clients / "safehub-console.json").exists()  # the sign-in client as before


def test_another_identity_provider_registers_the_console_itself(tmp_path: Path) -> None:
    register_local_client(HubSettings(data_dir=tmp_path), ConsoleSettings(issuer="https://idp.la"))
    assert not (tmp_path / "identity").exists()
