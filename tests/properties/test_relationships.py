"""Property 2: route by relationship, never by role alone. Adding a subscriber of an existing
role in another organisation never changes what the original subscribers get, and never
gives it a notice that does not name its organisation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.properties.generator import notices
from tests.properties.policies import Policies
from tests.properties.properties import relationship_violations

pytestmark = [pytest.mark.opa]


@settings(settings.get_profile("safehub-properties"))
@given(data=st.data())
def test_a_second_subscriber_of_a_role_never_widens_who_sees_what(
    policies: Policies, data: st.DataObject
) -> None:
    notice = data.draw(notices(policies.vocab), label="notice")
    (with_extras,), (without_extras,) = policies.decide_both([notice])

    violations = relationship_violations(notice, with_extras, without_extras, policies.extras)
    assert not violations, "\n".join(violations)
