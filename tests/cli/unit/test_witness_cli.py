"""`safehub witness key` prints a verifier key that checks the witness's cosignatures, made once
and kept; `safehub witness serve` with a bad logs file says which line, exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.hubkit.signed_note import SIGNATURE_TYPE_COSIGNATURE_V1, decode_verifier_key

REPO = Path(__file__).resolve().parents[3]


def _witness_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHUB_")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli.witness", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_key_is_made_once_and_printed_as_a_cosignature_vkey(tmp_path: Path) -> None:
    env = {"SAFEHUB_DATA_DIR": str(tmp_path), "SAFEHUB_WITNESS_NAME": "police.example/w"}
    first = _witness_cli(["key"], env)
    assert first.returncode == 0, first.stderr
    vkey = decode_verifier_key(first.stdout)
    assert vkey.name == "police.example/w"
    assert vkey.signature_type == SIGNATURE_TYPE_COSIGNATURE_V1
    assert _witness_cli(["key"], env).stdout == first.stdout
    assert (tmp_path / "witness" / "witness-key.pem").stat().st_mode & 0o077 == 0


def test_serve_with_a_bad_logs_file_names_the_line(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.write_text("# comment\nnot-a-vkey\n")
    env = {"SAFEHUB_DATA_DIR": str(tmp_path), "SAFEHUB_WITNESS_LOGS_FILE": str(logs)}
    result = _witness_cli(["serve", "--port", "1"], env)
    assert result.returncode == 2
    assert f"{logs} line 2" in result.stderr
    assert "Traceback" not in result.stderr
