"""Property 1: no decision ever permits a field beyond its recipient's IG ceiling."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.properties.generator import notices
from tests.properties.policies import Policies
from tests.properties.properties import ceiling_violations

pytestmark = [pytest.mark.opa]


@settings(settings.get_profile("safehub-properties"))
@given(data=st.data())
def test_no_decision_exceeds_its_recipients_ceiling(
    policies: Policies, ceilings: Any, data: st.DataObject
) -> None:
    notice = data.draw(notices(policies.vocab), label="notice")
    (decisions,) = policies.decide(policies.with_extras, [notice])

    violations = ceiling_violations(notice, decisions, policies.roles, ceilings)
    assert not violations, "\n".join(violations)
