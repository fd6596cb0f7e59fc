"""`safehub policy explain --notice-id ID` with no file: the hub's decisions from a real SQLite
audit store holding synthetic decision records (tests/audit fixtures), never the content."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.storage_sql import open_store
from services.cli.explain_logged import CONTENT_NOT_KEPT
from services.cli.main import main
from tests.audit.logs import build_log, decision_entries
from tests.audit.records import AUDITED_SUBSCRIBERS


@pytest.fixture
def logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Three notices decided for every audited subscriber; yields their notice ids."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    entries = decision_entries(3)
    build_log(store, Ed25519PrivateKey.from_private_bytes(bytes(range(32))), entries=entries)
    store.close()
    monkeypatch.setenv("SAFEHUB_AUDIT_DATABASE_URL", url)
    ids = list(dict.fromkeys(str(e.columns.notice_id) for e in entries))
    return ids


def test_explains_every_recipient_of_a_decided_notice(
    logged: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    notice_id = logged[1]
    assert main(["policy", "explain", "--notice-id", notice_id]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Notice {notice_id}, as the hub decided it")
    assert out.count("  Decision:") == len(AUDITED_SUBSCRIBERS)
    for subscriber in AUDITED_SUBSCRIBERS:
        assert f"\n{subscriber}: " in out
    assert "Rules:         R1, R2" in out  # mash-manager's recorded rules
    for label in ("Disclosed (", "Withheld (", "Policy:        rev-test", "Log leaf:"):
        assert label in out
    assert " ".join(CONTENT_NOT_KEPT.split()[:8]) in " ".join(out.split())
    for other in (logged[0], logged[2]):
        assert other not in out


def test_one_recipient(logged: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "explain", "--notice-id", logged[0], "--subscriber", "school-dsl"]) == 0
    out = capsys.readouterr().out
    assert out.count("  Decision:") == 1
    assert "\nschool-dsl: " in out


def test_unknown_notice_id_is_one_line_and_exit_2(
    logged: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "explain", "--notice-id", "00000000-0000-4000-8000-000000000000"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "holds no decision for notice" in captured.err


def test_unknown_subscriber_lists_the_valid_ones(
    logged: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "explain", "--notice-id", logged[0], "--subscriber", "nobody"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "'nobody' is not a subscriber" in err
    for subscriber in AUDITED_SUBSCRIBERS:
        assert subscriber in err


def test_no_file_and_no_notice_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "explain"]) == 2
    assert "--notice-id" in capsys.readouterr().err
