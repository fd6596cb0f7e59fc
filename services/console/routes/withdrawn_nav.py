"""The navigation's "Withdrawn, to acknowledge" link (issue 18): shown, with a count, to a
person whose desk has withdrawals nobody there has acknowledged, and to nobody else, so a
withdrawal is not missed by being off the queue."""

from __future__ import annotations

from typing import Any

from services.console.domain.people import Person
from services.console.domain.withdrawals import Withdrawal
from services.console.runtime import ConsoleRuntime

__all__ = ["withdrawals_nav", "withdrawals_to_acknowledge"]


def withdrawals_to_acknowledge(runtime: ConsoleRuntime, person: Person | None) -> list[Withdrawal]:
    """The person's desk's unacknowledged withdrawals, oldest first ([] without a desk)."""
    if person is None or person.subscriber_id is None:
        return []
    projection = runtime.projections.get(person.subscriber_id)
    return [] if projection is None else projection.withdrawals_to_acknowledge()


def withdrawals_nav(runtime: ConsoleRuntime, person: Person | None) -> dict[str, Any]:
    """For base.html: how many withdrawals the desk has to acknowledge (0: no link)."""
    return {"withdrawn_to_acknowledge": len(withdrawals_to_acknowledge(runtime, person))}
