"""What makes a submitted form this session's: the CSRF token every form carries, and the
single-use token of one rendering of the decision form, so that a resubmitted form (double
click, back button) becomes the same notice id, never a second decision."""

from __future__ import annotations

import hmac
import secrets
from enum import Enum
from typing import Any

from fastapi import Request

__all__ = [
    "DecisionFormState",
    "csrf_ok",
    "decision_form_state",
    "mark_decision_sent",
    "open_decision_form",
]

_MAX_OPEN_DECISION_FORMS = 50
_SENT = "sent:"


def csrf_ok(request: Request, submitted: object) -> bool:
    expected = request.session.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and bool(expected)
        and hmac.compare_digest(expected, submitted)
    )


class DecisionFormState(Enum):
    UNKNOWN = "unknown"
    """Never issued to this session, or pushed out by newer forms."""
    OPEN = "open"
    SENT = "sent"
    """Its decision was published; a resubmission must not publish another."""


def _decision_forms(session: dict[str, Any]) -> dict[str, str]:
    forms: dict[str, str] = session.setdefault("decision_forms", {})
    return forms


def open_decision_form(session: dict[str, Any]) -> str:
    """A token for one rendering of the decision form; the oldest go beyond a bound."""
    forms = _decision_forms(session)
    while len(forms) >= _MAX_OPEN_DECISION_FORMS:
        forms.pop(next(iter(forms)))
    token = secrets.token_urlsafe(16)
    forms[token] = "open"
    return token


def decision_form_state(session: dict[str, Any], token: str) -> DecisionFormState:
    state = _decision_forms(session).get(token)
    if state is None:
        return DecisionFormState.UNKNOWN
    return DecisionFormState.SENT if state.startswith(_SENT) else DecisionFormState.OPEN


def mark_decision_sent(session: dict[str, Any], token: str, notice_id: str) -> None:
    _decision_forms(session)[token] = f"{_SENT}{notice_id}"
