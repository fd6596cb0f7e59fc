"""What an IG query's parameters become in its ACCESS entry: ids of a bounded form, never text.

Every query is logged before it runs, refused ones included, so anyone holding an access token
could otherwise write whatever they typed into a URL into the permanent log. Only the
parameters a route declares are recorded, each as its canonical form when it has the form of
what it names (a UUID, a 64-hex linkage key, a subscriber id, a rule id, an RFC 3339 time, a
number...), otherwise as 'sha256:' and the hex digest of what was sent (an IG officer who
suspects a value can still find it). Parameters a route does not declare are not recorded;
only how many there were. Pure.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable, Mapping

from services.hubkit.audit_trail import ACTOR_FORM, ROLE_FORM, recorded_token

__all__ = ["UNDECLARED", "recorded_actor", "recorded_parameters", "recorded_roles"]

UNDECLARED = "undeclared_parameters"
"""The key under which the number of parameters a route does not declare is recorded."""

_LINKAGE_KEY = re.compile(r"[0-9a-f]{64}")
_SUBSCRIBER_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_ORGANISATION = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
_RULE_ID = re.compile(r"R[0-9]{1,3}")
_COUNT = re.compile(r"[0-9]{1,12}")
_WORD = re.compile(r"[A-Z_]{1,32}")
_VIEW = re.compile(r"[a-z_]{1,40}")


def _matching(form: re.Pattern[str]) -> Callable[[str], str | None]:
    return lambda value: value if form.fullmatch(value) else None


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value)) if len(value) <= 45 else None
    except ValueError:
        return None


def _time(value: str) -> str | None:
    if len(value) > 40:
        return None
    try:
        return dt.datetime.fromisoformat(value).isoformat()
    except ValueError:
        return None


_CANONICAL: Mapping[str, Callable[[str], str | None]] = {
    "notice_id": _uuid,
    "decision_id": _uuid,
    "subject_linkage_key": _matching(_LINKAGE_KEY),
    "recipient": _matching(_SUBSCRIBER_ID),
    "subscriber_id": _matching(_SUBSCRIBER_ID),
    "organisation": _matching(_ORGANISATION),
    "role": _matching(ROLE_FORM),
    "rule_id": _matching(_RULE_ID),
    "outcome": _matching(_WORD),
    "event": _matching(_WORD),
    "decided_from": _time,
    "decided_to": _time,
    "limit": _matching(_COUNT),
    "offset": _matching(_COUNT),
    "tree_size": _matching(_COUNT),
    "old_size": _matching(_COUNT),
    "new_size": _matching(_COUNT),
    # The figures (figures_api.py): a period in days, disclosure settings, which view.
    "from": _time,
    "to": _time,
    "threshold": _matching(_COUNT),
    "round_to": _matching(_COUNT),
    "period": _matching(_VIEW),
    "format": _matching(_VIEW),
    "table": _matching(_VIEW),
}
_NO_FORM = re.compile(r"(?!)")  # matches nothing: an unknown declared parameter is a digest


def recorded_parameters(
    sent: Iterable[tuple[str, str]], *, declared: Iterable[str]
) -> dict[str, str]:
    """The parameters to log for a query: declared names only, each canonical or a digest,
    plus the count of undeclared ones (if any). The last value of a repeated name wins, as it
    does for the route."""
    names = frozenset(declared)
    recorded: dict[str, str] = {}
    undeclared = 0
    for name, value in sent:
        if name not in names:
            undeclared += 1
            continue
        canonical = _CANONICAL.get(name, _matching(_NO_FORM))(value)
        recorded[name] = canonical if canonical is not None else recorded_token(value, _NO_FORM)
    if undeclared:
        recorded[UNDECLARED] = str(undeclared)
    return recorded


def recorded_actor(subject: str) -> str:
    """The caller's token subject as logged: an opaque id, or its digest."""
    return recorded_token(subject, ACTOR_FORM)


def recorded_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """The caller's role codes as logged, sorted: codes, or digests of anything else."""
    return tuple(sorted({recorded_token(role, ROLE_FORM) for role in roles}))
