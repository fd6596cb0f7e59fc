"""The navigation's "Emergency access to your agency's information" link (issue 18): shown,
with a count, to everyone signed in at a desk that has received an owner's alert (the hub
granted emergency access to content their agency sent), and to nobody else."""

from __future__ import annotations

from typing import Any

from services.console.domain.people import Person
from services.console.runtime import ConsoleRuntime

__all__ = ["break_glass_alerts_nav"]


def break_glass_alerts_nav(runtime: ConsoleRuntime, person: Person | None) -> dict[str, Any]:
    """For base.html: how many owner's alerts the person's desk holds (0: no link)."""
    if person is None or person.subscriber_id is None or runtime.grants is None:
        return {"break_glass_alerts": 0}
    return {"break_glass_alerts": runtime.grants.alert_count(person.subscriber_id)}
