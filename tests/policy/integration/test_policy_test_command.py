"""`safehub policy test` against the real `opa` binary with a deliberately failing test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.cli.main import main
from tests.factories import POLICIES

pytestmark = pytest.mark.opa


def test_a_failing_policy_test_is_named_with_expected_and_actual(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = tmp_path / "policies"
    shutil.copytree(POLICIES, candidate)
    rules = candidate / "safehub" / "rules" / "data.json"
    text = rules.read_text()
    assert '"max_age": 18' in text
    rules.write_text(text.replace('"max_age": 18', '"max_age": 16'))
    monkeypatch.setenv("SAFEHUB_POLICIES_DIR", str(candidate))

    code = main(["policy", "test"])

    out = capsys.readouterr().out
    assert code == 1
    assert "Traceback" not in out
    assert "FAILED  data.safehub.sharing_test.test_school_age_is_4_to_18_inclusive" in out
    assert "encompass_test.rego:44" in out  # where the test starts
    assert 'expected: "PARTIAL"' in out
    assert 'actual:   "DENY"' in out
    assert "1 failed" in out
    assert "not measured until every test passes" in out


def test_policies_that_do_not_compile_are_reported_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "policies" / "demo"
    broken.mkdir(parents=True)
    (broken / "demo.rego").write_text("package demo\n\nallow if {\n")
    monkeypatch.setenv("SAFEHUB_POLICIES_DIR", str(broken.parent))

    code = main(["policy", "test"])

    out = capsys.readouterr().out
    assert code == 1
    assert "could not run the tests" in out
    assert "demo.rego" in out
