"""Writing one console access event from a route: who is asking (`requester_for`), and the
write itself (`written`), which says whether the broker took it. What a route does when it
did not (refuse anyway, show nothing, keep the form to send again) stays with the route."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from services.console.domain.access import Requester
from services.console.domain.people import Person
from services.console.outbound import RefusalRecorder
from services.hubkit.topology import Topology

__all__ = ["requester_for", "written"]

log = logging.getLogger("safehub.console")


def requester_for(person: Person, topology: Topology) -> Requester:
    """The person as access events record them: subject, roles and the feed they read."""
    subscriber = topology.subscriber(person.subscriber_id) if person.subscriber_id else None
    return Requester(person.subject, person.roles, subscriber)


async def written(
    recorder: RefusalRecorder, event: Mapping[str, Any], *, failure: str, **context: str
) -> bool:
    """Write `event`; False, and an ERROR line (`failure`, the event kind, `context`: ids and
    codes only, never content), when it could not be written."""
    try:
        await recorder.record(event)
    except Exception as error:
        log.error(
            failure,
            extra={"event": event.get("event"), **context, "error": type(error).__name__},
        )
        return False
    return True
