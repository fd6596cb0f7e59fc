"""`safehub audit api` and `safehub audit index` start with local defaults, and say in one
line what is missing when they cannot (exit 2, no traceback; issue 17)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.audit.errors import TokenIssuerMissing
from services.audit.settings import LOCAL_TOKEN_ISSUER, AuditSettings

REPO = Path(__file__).resolve().parents[3]


def _audit_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHUB_")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli.audit", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_with_nothing_set_the_api_trusts_the_local_identity_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SAFEHUB_AUDIT_TOKEN_ISSUER", "SAFEHUB_AUDIT_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = AuditSettings()
    assert settings.resolved_token_issuer() == LOCAL_TOKEN_ISSUER
    assert settings.resolved_jwks_url() == f"{LOCAL_TOKEN_ISSUER}/.well-known/jwks.json"
    other = AuditSettings(token_issuer="https://idp.example/", jwks_url=None)
    assert other.resolved_jwks_url() == "https://idp.example/.well-known/jwks.json"
    explicit = AuditSettings(token_issuer="https://idp.example", jwks_url="https://k.example/j")
    assert explicit.resolved_jwks_url() == "https://k.example/j"


def test_an_issuer_set_empty_is_a_typed_error_naming_the_variables() -> None:
    with pytest.raises(TokenIssuerMissing, match="SAFEHUB_AUDIT_TOKEN_ISSUER"):
        AuditSettings(token_issuer=" ").resolved_token_issuer()


def test_audit_api_without_an_issuer_says_so_in_one_line(tmp_path: Path) -> None:
    done = _audit_cli(
        ["api", "--port", "1"],
        {"SAFEHUB_AUDIT_TOKEN_ISSUER": "", "SAFEHUB_DATA_DIR": str(tmp_path)},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SAFEHUB_AUDIT_TOKEN_ISSUER" in lines[0]
    assert "SAFEHUB_AUDIT_JWKS_URL" in lines[0]


def test_audit_index_without_broker_credentials_says_so_in_one_line(tmp_path: Path) -> None:
    # Port 0: the health routes bind before the broker is tried; any free port will do.
    done = _audit_cli(
        ["index"], {"SAFEHUB_DATA_DIR": str(tmp_path), "SAFEHUB_AUDIT_INDEXER_PORT": "0"}
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "no broker credentials for principal 'audit'" in done.stderr
    assert "safehub stack up" in done.stderr


def test_audit_index_without_its_database_url_file_says_so_in_one_line(tmp_path: Path) -> None:
    absent = tmp_path / "audit-database" / "url"
    done = _audit_cli(
        ["index"],
        {"SAFEHUB_DATA_DIR": str(tmp_path), "SAFEHUB_AUDIT_DATABASE_URL_FILE": str(absent)},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert str(absent) in done.stderr
    assert "DatabaseUrlUnreadable" in done.stderr
