"""`simulate`, `explain` and `lint` against the real `opa` binary, with known candidate changes.

The known change: Operation Encompass narrowed to compulsory school age, leaving out sixth
forms (R9 max_age 18 -> 16, a data edit an IG officer can make). Only domestic abuse notices
about 17- and 18-year-olds at the school the notice names may change, and only for the school.
"""

from __future__ import annotations

import copy
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.cli.main import main
from services.hubkit.notice import to_json_value
from services.hubkit.settings import HubSettings
from services.policy.evaluate import PolicySource
from services.policy.simulation import simulate
from services.stack import StackRunner
from services.stack.artifacts import ensure_opa
from tests.factories import POLICIES, notices

pytestmark = pytest.mark.opa

OTHER_SCHOOL = "URN-123456"


def _incident(generator: Any, *, age: int, school: str = "URN-999999", family: str = "") -> Any:
    notice = generator.notice("DOMESTIC_ABUSE_INCIDENT", school_urn=school)
    notice["subject"]["age_years"] = age
    if family:
        notice["subject"]["family_name"] = family
    return notice


def _week() -> list[dict[str, Any]]:
    generator = notices(seed=31)
    items = [_incident(generator, age=17) for _ in range(3)]  # newly withheld
    items += [_incident(generator, age=10) for _ in range(2)]  # shared before and after
    # Not shared either way; only the reason changes ("not of school age" instead of "not the
    # school named"), which the diff reports as an explanation change.
    items += [_incident(generator, age=17, school=OTHER_SCHOOL) for _ in range(2)]
    items += [_incident(generator, age=19)]  # neither
    items += [generator.notice(t) for t in ("MISSING_EPISODE", "VCS_UPDATE", "MASH_DECISION")]
    return [to_json_value(n) for n in items]


@pytest.fixture(scope="module")
def opa_binary() -> Path:
    return ensure_opa(HubSettings())


@pytest.fixture(scope="module")
def no_sixth_forms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    candidate = tmp_path_factory.mktemp("candidate") / "policies"
    shutil.copytree(POLICIES, candidate)
    rules = candidate / "safehub" / "rules" / "data.json"
    text = rules.read_text()
    assert '"max_age": 18' in text
    rules.write_text(text.replace('"max_age": 18', '"max_age": 16'))
    return candidate


@pytest.mark.parametrize("exact", [True, False], ids=["every notice", "grouped"])
def test_simulation_finds_exactly_the_sixth_formers(
    opa_binary: Path, no_sixth_forms: Path, exact: bool
) -> None:
    week = _week()
    result = simulate(
        week,
        opa=opa_binary,
        current=PolicySource.at(POLICIES),
        candidate=PolicySource.at(no_sixth_forms),
        exact=exact,
    )
    diff = result.diff
    assert (diff.notices, diff.notices_changed) == (len(week), 5)
    assert [s.subscriber_id for s in diff.affected] == ["school-dsl"]
    school = diff.affected[0]
    assert school.newly_withheld == {"DOMESTIC_ABUSE_INCIDENT": 3}
    assert sum(school.newly_shared.values()) == 0
    assert school.outcome_changes == {("PARTIAL", "DENY"): 3}
    assert school.other_changes["explanation"] == 5
    assert {ref.notice_id for ref in school.examples_changed} == {n["notice_id"] for n in week[5:7]}
    assert school.fields_withheld["detail.incident_at"] == 3
    assert "narrative.summary" not in school.fields_withheld  # Encompass: never any narrative
    assert {ref.notice_id for ref in school.examples_withheld} <= {n["notice_id"] for n in week[:3]}
    assert result.grouped is not exact
    assert result.disagreements == 0


def test_grouping_falls_back_to_every_notice_when_a_rule_reads_a_name(
    opa_binary: Path, tmp_path: Path
) -> None:
    candidate = tmp_path / "policies"
    shutil.copytree(POLICIES, candidate)
    with (candidate / "safehub" / "sharing" / "encompass.rego").open("a") as rego:
        # A rule no IG officer should write: it decides on the child's family name.
        rego.write(
            '\n_grants[sid] contains _grant("operation_encompass", sid) if {\n'
            '\t_notice.notice_type == "DOMESTIC_ABUSE_INCIDENT"\n'
            '\tstartswith(_notice.subject.family_name, "Ash")\n'
            "\tsome sid, sub in data.safehub.subscribers\n"
            "\t_school(sub)\n"
            "}\n"
        )
    # Not of school age: only the name rule can share it.
    first = to_json_value(_incident(notices(seed=32), age=19, family="Bramwell"))
    second = copy.deepcopy(first)
    second["notice_id"] = str(uuid.uuid4())
    second["subject"]["family_name"] = "Ashdown"
    # Same group (names are placeholders), different decisions: only sampling can tell.
    week = [first, second]
    result = simulate(
        week,
        opa=opa_binary,
        current=PolicySource.at(POLICIES),
        candidate=PolicySource.at(candidate),
    )
    assert not result.grouped
    assert result.disagreements == 1
    school = next(s for s in result.diff.affected if s.subscriber_id == "school-dsl")
    assert school.newly_shared == {"DOMESTIC_ABUSE_INCIDENT": 1}
    assert [ref.notice_id for ref in school.examples_shared] == [week[1]["notice_id"]]


def _write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(n) + "\n" for n in items))
    return path


def test_cli_simulate_prints_the_diff(
    no_sixth_forms: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    week = _write_jsonl(tmp_path / "week.jsonl", _week())
    code = main(
        [
            "policy",
            "simulate",
            "--candidate",
            str(no_sixth_forms),
            "--file",
            str(week),
            "--current",
            str(POLICIES),
        ]
    )
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0
    subscribers = len(json.loads((POLICIES / "safehub/subscribers/data.json").read_text()))
    assert (
        f"Result: 5 of 11 notices (45.5%) would be decided differently, for 1 of {subscribers}"
        in out
    )
    # Not a terminal: one plain progress line on stderr, with the total counted up front.
    assert "simulate: 11 of 11 notices read (100%)" in captured.err
    # The week holds no sexual-health, trafficking, CP-IS or police intelligence notice.
    warning = out[out.index("Warning: not exercised by this input") :].split("\n\n")[0]
    rows = {line.split()[0] for line in warning.splitlines()[1:] if line.startswith("  R")}
    assert {"R4", "R5", "R12", "R13"} <= rows
    assert not {"R9", "R15"} & rows  # Operation Encompass and its refusals did fire
    # Then the named parts of the rules no notice applied (R9's grant did apply).
    parts = out[out.index("Warning: never applied by this input") :]
    assert "  R5 restriction police_confidential_account:" in parts
    assert "operation_encompass:" not in parts
    assert "Notices newly withheld: 3 (DOMESTIC_ABUSE_INCIDENT 3)" in out
    assert "PARTIAL -> DENY" in out
    assert "No change for:" in out
    for notice in _week():
        assert notice["subject"]["given_name"] not in out.replace("given name", "")


def test_cli_explain_before_and_after(
    no_sixth_forms: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notice = tmp_path / "notice.json"
    notice.write_text(json.dumps(_week()[0]))
    argv = ["policy", "explain", str(notice), "--subscriber", "school-dsl"]
    assert main([*argv, "--policies", str(POLICIES)]) == 0
    before = capsys.readouterr().out
    assert main([*argv, "--policies", str(no_sixth_forms)]) == 0
    after = capsys.readouterr().out
    assert "Decision:      PARTIAL: part of the notice is shared" in before
    assert "Decision:      DENY: nothing is shared" in after
    assert "Operation Encompass" in " ".join(before.split())
    assert "R9" in after
    assert main([*argv, "--engine", "regopy", "--policies", str(no_sixth_forms)]) == 0
    assert "DENY" in capsys.readouterr().out


def test_cli_explain_lists_the_subscribers_for_an_unknown_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notice = tmp_path / "notice.json"
    notice.write_text(json.dumps(_week()[0]))
    argv = ["policy", "explain", str(notice), "--subscriber", "nobody"]
    assert main([*argv, "--policies", str(POLICIES)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    subscribers = json.loads((POLICIES / "safehub/subscribers/data.json").read_text())
    assert f"choose from: {', '.join(sorted(subscribers))}" in captured.err


def test_cli_explain_on_the_live_opa_names_the_served_revision(
    stack: HubSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notice = tmp_path / "notice.json"
    notice.write_text(json.dumps(_week()[0]))
    assert main(["policy", "explain", str(notice)]) == 0
    out = capsys.readouterr().out
    served = StackRunner(stack).served_revision()
    assert served is not None
    assert f"Policy:        {served} (live OPA at {stack.opa_url})" in out
    subscribers = len(json.loads((POLICIES / "safehub/subscribers/data.json").read_text()))
    assert out.count("Decision:") == subscribers


def test_lint_shows_the_formatting_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    rego = policies / "safehub" / "sharing" / "identity.rego"
    rego.write_text(rego.read_text().replace("\t", "    ", 3))
    monkeypatch.setenv("SAFEHUB_POLICIES_DIR", str(policies))
    assert main(["policy", "lint"]) == 1
    out = capsys.readouterr().out
    assert "format (opa fmt --diff): FAILED" in out
    assert f"--- {rego} (as it is)" in out
    assert f"+++ {rego} (after opa fmt -w)" in out
    assert "  -    some sid in _sharing_candidates" in out
    assert "  +→   some sid in _sharing_candidates" in out
    assert f"run `opa fmt -w {policies}` to make these changes" in out
