"""`simulate` against the real `opa` binary: the warning names the rule parts the input never
applied. R5 fires on every police intelligence notice, so only the part-level warning can say
that no notice had an account marked police-confidential (issue 17, item 5)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from services.hubkit.notice import to_json_value
from services.hubkit.settings import HubSettings
from services.policy.evaluate import PolicySource
from services.policy.report import PolicyLabels, render_diff
from services.policy.rule_parts import RulePart
from services.policy.simulation import simulate
from services.stack.artifacts import ensure_opa
from tests.factories import POLICIES, notices

pytestmark = pytest.mark.opa

CONFIDENTIAL = RulePart("restrictions", "police_confidential_account")


@pytest.fixture(scope="module")
def opa_binary() -> Path:
    return ensure_opa(HubSettings())


def _week() -> list[dict[str, Any]]:
    """Police intelligence (R5 fires) and contacts, none marked police-confidential."""
    generator = notices(seed=41)
    items = [generator.notice("POLICE_INTELLIGENCE") for _ in range(2)]
    items += [generator.notice(t) for t in ("SAFEGUARDING_CONTACT", "HEALTH_SAFEGUARDING_ALERT")]
    week = [to_json_value(n) for n in items]
    assert all(n["narrative"]["sensitivity"] != "POLICE_CONFIDENTIAL" for n in week)
    return week


def _confidential_contact() -> dict[str, Any]:
    notice: dict[str, Any] = to_json_value(notices(seed=42).notice("SAFEGUARDING_CONTACT"))
    notice["narrative"]["sensitivity"] = "POLICE_CONFIDENTIAL"
    return notice


def _report(week: list[dict[str, Any]], opa: Path, *, exact: bool) -> tuple[Any, str]:
    policy = PolicySource.at(POLICIES)
    result = simulate(week, opa=opa, current=policy, candidate=policy, exact=exact)
    text = render_diff(
        result.diff,
        labels=PolicyLabels.from_data(policy.contents()[1]),
        header=[],
        parts_fired=result.parts_fired,
        parts_unanswered=result.parts_unanswered,
    )
    return result, " ".join(" ".join(text).split())


@pytest.mark.parametrize("exact", [True, False], ids=["every notice", "grouped"])
def test_a_week_without_a_police_confidential_account_is_warned_about(
    opa_binary: Path, exact: bool
) -> None:
    result, text = _report(_week(), opa_binary, exact=exact)
    assert "R5" in result.diff.rules_fired  # the rule-level warning cannot tell
    assert result.parts_fired is not None
    assert CONFIDENTIAL not in result.parts_fired
    assert RulePart("restrictions", "clinical") in result.parts_fired
    assert (
        "R5 restriction police_confidential_account: the full account is marked confidential "
        "to police (R5): never applied by this input" in text
    )

    result, text = _report([*_week(), _confidential_contact()], opa_binary, exact=exact)
    assert result.parts_fired is not None
    assert CONFIDENTIAL in result.parts_fired
    assert "police_confidential_account" not in text
    assert "never applied by this input" in text  # other parts still unexercised


def test_a_policy_from_before_rule_parts_is_named_and_the_other_still_answers(
    opa_binary: Path, tmp_path: Path
) -> None:
    older = tmp_path / "policies"
    shutil.copytree(POLICIES, older, ignore=shutil.ignore_patterns("rule_parts*.rego"))
    week = _week()
    result = simulate(
        week, opa=opa_binary, current=PolicySource.at(older), candidate=PolicySource.at(POLICIES)
    )
    assert result.parts_unanswered == ("current",)
    assert result.parts_fired is not None
    assert CONFIDENTIAL not in result.parts_fired
    assert RulePart("restrictions", "clinical") in result.parts_fired
    both_older = simulate(
        week, opa=opa_binary, current=PolicySource.at(older), candidate=PolicySource.at(older)
    )
    assert both_older.parts_fired is None
    assert both_older.diff.notices == len(week)  # the decisions are unaffected
