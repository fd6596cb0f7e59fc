"""The single-use decision-form tokens a session holds (services/console/routes/forms.py)."""

from __future__ import annotations

from typing import Any

from services.console.routes.forms import (
    DecisionFormState,
    decision_form_state,
    mark_decision_sent,
    open_decision_form,
)


def test_a_form_token_is_open_until_its_decision_is_sent() -> None:
    session: dict[str, Any] = {}
    token = open_decision_form(session)
    assert decision_form_state(session, token) is DecisionFormState.OPEN
    mark_decision_sent(session, token, "notice-1")
    assert decision_form_state(session, token) is DecisionFormState.SENT


def test_a_token_this_session_never_issued_is_unknown() -> None:
    session: dict[str, Any] = {}
    open_decision_form(session)
    assert decision_form_state(session, "made-up") is DecisionFormState.UNKNOWN
    assert decision_form_state({}, "") is DecisionFormState.UNKNOWN


def test_the_oldest_open_forms_make_way_for_new_ones() -> None:
    session: dict[str, Any] = {}
    first = open_decision_form(session)
    latest = [open_decision_form(session) for _ in range(50)]
    assert decision_form_state(session, first) is DecisionFormState.UNKNOWN
    assert all(decision_form_state(session, t) is DecisionFormState.OPEN for t in latest)
    assert len(session["decision_forms"]) == 50
