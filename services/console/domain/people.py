"""Who is signed in, which feed they read, and how long a session lives.

URLs and page titles carry no personal data. Items are addressed by notice id (a UUIDv5 of
the agency's record reference: opaque, and the id audit records use). A child is addressed
by a stable opaque link (domain/links.py), never the linkage key itself; every request for
either is checked against the signed-in person's own feed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.console.domain.labels import ROLE_LABELS, label
from services.hubkit.topology import SubscriberEntry, Topology

__all__ = [
    "Person",
    "SessionPolicy",
    "person_from_claims",
    "session_live",
    "session_seconds_left",
    "subscriber_for",
]


@dataclass(frozen=True, slots=True)
class Person:
    """The signed-in person, from the ID token's claims."""

    subject: str
    name: str
    roles: tuple[str, ...]
    organisation: str
    subscriber_id: str | None

    @property
    def role_text(self) -> str:
        return ", ".join(label(ROLE_LABELS, r) for r in self.roles) or "No role"

    def as_session(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "name": self.name,
            "roles": list(self.roles),
            "organisation": self.organisation,
            "subscriber_id": self.subscriber_id,
        }

    @staticmethod
    def from_session(data: Mapping[str, Any]) -> Person:
        return Person(
            subject=str(data["subject"]),
            name=str(data["name"]),
            roles=tuple(str(r) for r in data["roles"]),
            organisation=str(data["organisation"]),
            subscriber_id=data.get("subscriber_id"),
        )


def subscriber_for(
    roles: Iterable[str], organisation: str, topology: Topology, *, console_roles: Iterable[str]
) -> SubscriberEntry | None:
    """The feed a person reads: the subscriber with their role in their organisation.

    The role-to-subscriber link is policy data (policies/safehub/subscribers/data.json), so
    the IG officer who owns the sharing rules also owns who reads which feed.
    """
    allowed = set(console_roles)
    for role in roles:
        if role not in allowed:
            continue
        for subscriber in topology.subscribers:
            if subscriber.role == role and subscriber.organisation == organisation:
                return subscriber
    return None


def person_from_claims(
    claims: Mapping[str, Any], topology: Topology, *, console_roles: Iterable[str]
) -> Person:
    roles_raw = claims.get("roles", [])
    roles = tuple(str(r) for r in roles_raw) if isinstance(roles_raw, list) else ()
    organisation = str(claims.get("organisation", ""))
    subscriber = subscriber_for(roles, organisation, topology, console_roles=console_roles)
    return Person(
        subject=str(claims["sub"]),
        name=str(claims.get("name") or claims.get("preferred_username") or "Signed in"),
        roles=roles,
        organisation=organisation,
        subscriber_id=subscriber.subscriber_id if subscriber else None,
    )


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: dt.timedelta = dt.timedelta(minutes=30)
    """Signed out after this long without a page request (a live queue does not count:
    an unattended screen must not stay signed in)."""
    absolute: dt.timedelta = dt.timedelta(hours=10)
    """Signed out after this long whatever happens (a working shift)."""


def session_live(*, created_at: float, last_seen: float, now: float, policy: SessionPolicy) -> bool:
    return (
        now - last_seen < policy.idle.total_seconds()
        and now - created_at < policy.absolute.total_seconds()
    )


def session_seconds_left(
    *, created_at: float, last_seen: float, now: float, policy: SessionPolicy
) -> float:
    """How long the session has before it ends if nothing else happens: the sooner of the
    idle and the absolute limit (0 when it has ended). What the page's idle warning counts
    down from."""
    idle_left = policy.idle.total_seconds() - (now - last_seen)
    absolute_left = policy.absolute.total_seconds() - (now - created_at)
    return max(0.0, min(idle_left, absolute_left))
