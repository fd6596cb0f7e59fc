"""`safehub retention rules|due`: plain answers from the IG-owned rules, one-line errors."""

from __future__ import annotations

import json

import pytest

from services.cli.main import main
from services.hubkit.retention import RETENTION_FILE
from services.hubkit.settings import REPO_ROOT

SHIPPED = json.loads((REPO_ROOT / "policies" / RETENTION_FILE).read_text())
HELD_CHILD = SHIPPED["legal_holds"][0]["scope"]["child_key"]


def test_rules_lists_record_types_holds_and_every_topic(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["retention", "rules"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED["record_types"]:
        assert name in out
    assert "kept 75 years from the date of birth" in out
    assert "audit.decisions.v1: deleted after 30 days" in out
    assert "audit.checkpoints.v1: kept for good" in out
    assert "feed.mash-manager.v1: kept for good" in out
    assert "gateway.notices-seen.v1: compacted" in out
    assert SHIPPED["legal_holds"][0]["id"] in out
    # The hold's child key is pseudonymous, but a listing of holds needs no key at all.
    assert HELD_CHILD not in out


def test_due_answers_with_the_date_and_whether_it_is_due(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["retention", "due", "--record-type", "CHILD_PROTECTION_RECORD"]
    assert main([*args, "--anchor", "2000-02-29", "--today", "2026-12-05"]) == 0
    out = capsys.readouterr().out
    assert "due for review on 2025-02-28" in out
    assert "due now (as of 2026-12-05)" in out
    assert main([*args, "--anchor", "2010-01-01", "--today", "2026-12-05"]) == 0
    assert "not due yet" in capsys.readouterr().out


def test_due_reports_a_legal_hold_on_the_child(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["retention", "due", "--record-type", "MASH_CONTACT_RECORD", "--anchor", "2001-01-01"]
    assert main([*args, "--child", HELD_CHILD, "--today", "2026-12-05"]) == 0
    out = capsys.readouterr().out
    assert f"held by {SHIPPED['legal_holds'][0]['id']}" in out
    assert "not due: a legal hold stops any disposal" in out


def test_an_unknown_record_type_lists_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["retention", "due", "--record-type", "LAC", "--anchor", "2001-01-01"]) == 1
    err = capsys.readouterr().err
    assert "unknown record type 'LAC'; valid record types: AUDIT_RECORD" in err
    assert "Traceback" not in err


def test_a_child_identifier_instead_of_a_key_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["retention", "due", "--record-type", "AUDIT_RECORD", "--anchor", "2001-01-01"]
    assert main([*args, "--child", "9434765919"]) == 1
    assert "pseudonymous key" in capsys.readouterr().err


def test_a_date_that_is_not_iso_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["retention", "due", "--record-type", "AUDIT_RECORD", "--anchor", "01/02/2001"])
    assert exit_.value.code == 2
    assert "write YYYY-MM-DD" in capsys.readouterr().err
