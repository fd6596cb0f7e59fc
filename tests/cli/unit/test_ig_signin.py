"""`safehub ig login`: an IG officer signs in at the command line with the device grant against
the real local identity provider (uvicorn on a loopback port), approves in the "browser"
(httpx on the verification page), and gets a 0600 token file `safehub ig token` prints."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.identity.served import free_port, password_of, served_identity

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def identity(tmp_path: Path) -> Iterator[str]:
    with served_identity(tmp_path, device_poll_interval_s=1) as issuer:
        yield issuer


def _env(tmp_path: Path, issuer: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHUB_")}
    return {
        **clean,
        "SAFEHUB_DATA_DIR": str(tmp_path),
        "SAFEHUB_IDENTITY_ISSUER": issuer,
        "SAFEHUB_AUDIT_TOKEN_ISSUER": issuer,
    }


def _safehub(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _approve(issuer: str, user_code: str, state_dir: Path, username: str) -> httpx.Response:
    password = password_of(state_dir, username)
    with httpx.Client(base_url=issuer, timeout=30) as browser:
        page = browser.get("/device", params={"user_code": user_code})
        txn = re.search(r'name="txn" value="([^"]+)"', page.text)
        assert txn is not None
        return browser.post(
            "/device",
            data={
                "txn": txn.group(1),
                "user_code": user_code,
                "username": username,
                "password": password,
                "decision": "approve",
            },
        )


def test_ig_login_stores_a_private_short_lived_token_for_the_audit_api(
    tmp_path: Path, identity: str
) -> None:
    env = _env(tmp_path, identity)
    before = _safehub(["ig", "token"], env)
    assert before.returncode == 2
    assert "run `safehub ig login`" in before.stderr
    assert "Traceback" not in before.stderr

    login = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "ig", "login"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert login.stdout is not None
        first = login.stdout.readline()
        found = re.search(r"open (\S+)", first)
        assert found is not None, first
        assert found.group(1).startswith(f"{identity}/device?user_code=")
        code = re.search(r"code ([A-Z]{4}-[A-Z]{4})", login.stdout.readline() + first)
        assert code is not None
        approved = _approve(identity, code.group(1), tmp_path / "identity", "ig.officer")
        assert approved.status_code == 200, approved.text
        out, err = login.communicate(timeout=60)
    finally:
        login.kill()
    assert login.returncode == 0, err
    assert "signed in until" in out

    path = tmp_path / "ig" / "token.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    printed = _safehub(["ig", "token"], env)
    assert printed.returncode == 0, printed.stderr
    keys = KeySet.import_key_set(httpx.get(f"{identity}/.well-known/jwks.json").json())
    claims = jwt.decode(printed.stdout.strip(), keys, algorithms=["ES256"]).claims
    assert claims["aud"] == "safehub-audit"
    assert claims["roles"] == ["IG_OFFICER"]
    assert claims["exp"] - claims["iat"] <= 600

    # The report command says plainly when the API is not there.
    nowhere = f"http://127.0.0.1:{free_port()}"
    report = _safehub(["ig", "report", "--child", "a" * 64, "--api", nowhere], env)
    assert report.returncode == 2
    assert "cannot reach the IG API" in report.stderr
    assert "Traceback" not in report.stderr


def test_ig_login_without_an_identity_provider_fails_in_one_line(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    failed = _safehub(["ig", "login"], _env(tmp_path, nowhere))
    assert failed.returncode == 2
    assert "cannot reach the identity provider" in failed.stderr
    assert "Traceback" not in failed.stderr
