"""The agency checks on a child's page (decision makers only): each contact's checks with
their state and findings, and for each contact still awaiting a decision the partner desks
that may be asked about it (only those whose own feed holds the contact with its content).
The routes that ask and answer are in routes/research.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.console.domain.decisions import FieldProblem
from services.console.domain.feed import FeedEntry
from services.console.domain.research import (
    MAX_QUESTION,
    PartnerOffer,
    ResearchCheck,
    partner_offers,
)
from services.console.domain.views.fields import when_text
from services.console.routes.dependencies import Viewer
from services.console.routes.desks import partners_of

__all__ = ["offers_for", "research_context"]


def _holds_contact(viewer: Viewer, partner_id: str, notice_id: str) -> bool:
    """Whether the partner's own feed holds the contact with content to research from (a
    flag alone names no child and holds nothing to check against)."""
    projection = viewer.runtime.projections.get(partner_id)
    entry = projection.get(notice_id) if projection is not None else None
    return entry is not None and entry.outcome != "FLAG_ONLY"


def offers_for(viewer: Viewer, notice_id: str, asked: Iterable[str]) -> list[PartnerOffer]:
    partners = partners_of(viewer.runtime)
    holds = {p.subscriber_id: _holds_contact(viewer, p.subscriber_id, notice_id) for p in partners}
    return partner_offers(partners, holds_contact=holds, asked=asked)


def research_context(
    viewer: Viewer,
    entries: Iterable[FeedEntry],
    undecided: Iterable[tuple[str, str]],
    *,
    errors: Mapping[str, list[FieldProblem]] | None = None,
    values: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """For the child page (decision makers only): each contact's checks, and for each
    contact still awaiting a decision, the desks that may be asked about it."""
    if not viewer.may_decide:
        return {"research": None}
    runtime = viewer.runtime
    now = runtime.clock()
    ids = [e.notice_id for e in entries]
    checks = runtime.research.for_notices(ids)
    names = {p.subscriber_id: p.name for p in partners_of(runtime)}
    by_contact: dict[str, list[ResearchCheck]] = {}
    for check in checks:
        by_contact.setdefault(check.request.notice_id, []).append(check)
    contacts = [
        {
            "notice_id": notice_id,
            "text": text,
            "offers": offers_for(
                viewer, notice_id, (c.request.partner for c in by_contact.get(notice_id, ()))
            ),
            "errors": (errors or {}).get(notice_id, []),
            "values": (values or {}).get(notice_id, {}),
        }
        for notice_id, text in undecided
    ]
    texts = dict(undecided)
    return {
        "research": {
            "checks": [
                {
                    "check": c,
                    "partner": names.get(c.request.partner, c.request.partner),
                    "contact": texts.get(c.request.notice_id, "A contact now decided"),
                    "state": c.state(now).value,
                    "state_text": c.state_text(now),
                    "answered_text": when_text(c.findings.answered_at) if c.findings else None,
                    "requested_text": f"Asked by {c.request.requested_by.name} at "
                    f"{when_text(c.request.requested_at)}",
                }
                for c in checks
            ],
            "contacts": contacts,
            "max_question": MAX_QUESTION,
        },
    }
