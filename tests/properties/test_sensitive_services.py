"""Property 3: a flag or a refusal must not itself disclose. Nothing sent to a recipient not
entitled to know of a sexual health, termination or SARC attendance (its explanation, the
contact it is given, the fields it is permitted) mentions the service. Entitled: the health
navigator always; the MASH manager when the attendance was released for a child protection
decision."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.properties.generator import as_policy_input, notices
from tests.properties.policies import Policies
from tests.properties.properties import sensitive_service_violations

pytestmark = [pytest.mark.opa]


@settings(settings.get_profile("safehub-properties"))
@given(data=st.data())
def test_nobody_not_entitled_is_told_of_a_sensitive_service(
    policies: Policies, data: st.DataObject
) -> None:
    # Half the examples are health alerts, where sensitive attendances arise.
    notice = data.draw(
        st.one_of(
            notices(policies.vocab),
            notices(policies.vocab, notice_types=["HEALTH_SAFEGUARDING_ALERT"]),
        ),
        label="notice",
    )
    (decisions,) = policies.decide(policies.with_extras, [notice])

    violations = sensitive_service_violations(as_policy_input(notice), decisions, policies.roles)
    assert not violations, "\n".join(violations)
