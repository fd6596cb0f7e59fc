"""The child context the sharing policy reads beside a notice, and the observation the
gateway records for every notice it decides. Pure: plain functions over plain data.

For each batch it decides, the gateway sends the child index one `Observation` per notice
(what that notice tells the hub about its child) and gets back each child's `Context`: what
the hub has learned about the child from every agency, across every key the child has had
(services/childindex/context.py). The policy reads it as `input.context` (policies/README.md)
so rules R7, R8, R9 and R12 use what any agency told the hub, not only the notice in hand.
A context is for deciding only; no view, feed item or explanation ever carries it.

What an observation says, field by field, and why (a field the notice does not carry is
null, so it never overwrites what another agency said):

- `exploitation_flagged`: the child is flagged for exploitation: the subject's flag, or a
  concern code that is an exploitation concern (the R8 list), or the notice is itself an
  exploitation concern or an NRM referral. Always a boolean: every notice carries the flag.
- `exploitation_types`: the `ExploitationType` symbols the notice names (an exploitation
  concern's types, an NRM referral's type), plus the type a concern code names outright
  (CSE is SEXUAL, CCE is CRIMINAL, county lines is COUNTY_LINES); one vocabulary.
- `missing_episode`: a missing episode's status, risk grade and start time.
- `looked_after`: true when the notice says so. False only from children's services, who
  hold the status: every other sender's record says false when it does not know (the police
  and charity forms default to false), and that must not read as "left care".
- `placing_la`, `responsible_la`: as the subject names them.
- `cp_plan`: a CSC status change starting (true) or ending (false) a plan, or a CP-IS
  flag on a health alert for a child protection plan, open (true) or ended (false).
- `school_urn`: an Operation Encompass notice's school, in the canonical "URN-<6 digits>".

Times are RFC 3339 in UTC with milliseconds and `+00:00` (as the gateway renders a notice,
`services.hubkit.notice.to_json_value`), whether the notice holds datetimes (decoded Avro)
or those strings already (the policy input).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from services.hubkit.notice import to_json_value
from services.hubkit.school_urn import normalise_school_urn

__all__ = [
    "EXPLOITATION_CONCERNS",
    "EXPLOITATION_TYPE_OF_CONCERN",
    "ChildContext",
    "Observation",
    "empty_context",
    "observation_of",
]

Observation = dict[str, Any]
"""What one notice tells the hub about its child (the contract's Observation, JSON values)."""

ChildContext = dict[str, Any]
"""What the hub has learned about one child from every agency (the contract's Context)."""

EXPLOITATION_CONCERNS = frozenset(
    {
        "CHILD_SEXUAL_EXPLOITATION",
        "CHILD_CRIMINAL_EXPLOITATION",
        "COUNTY_LINES",
        "TRAFFICKING",
        "GANGS",
    }
)
"""Concern codes that flag a child for exploitation: the policy's R8 list
(policies/safehub/rules/data.json, `R8.exploitation_concerns`)."""

EXPLOITATION_TYPE_OF_CONCERN: Mapping[str, str] = {
    "CHILD_SEXUAL_EXPLOITATION": "SEXUAL",
    "CHILD_CRIMINAL_EXPLOITATION": "CRIMINAL",
    "COUNTY_LINES": "COUNTY_LINES",
}
"""The ExploitationType a concern code names outright (trafficking and gangs name none)."""

_EXPLOITATION_NOTICE_TYPES = frozenset({"EXPLOITATION_CONCERN", "TRAFFICKING_NRM"})
_CP_PLAN_TYPES = frozenset({"CHILD_PROTECTION_PLAN", "UNBORN_CHILD_PROTECTION_PLAN"})
_CP_PLAN_CHANGES: Mapping[str, bool] = {"CP_PLAN_STARTED": True, "CP_PLAN_ENDED": False}
# The agency that holds a child's looked-after status (its "false" is a fact, not a default).
_LOOKED_AFTER_HOLDER = "CHILDRENS_SERVICES"


def observation_of(notice: Mapping[str, Any]) -> Observation:
    """What `notice` (a valid SafeguardingNotice, decoded or as JSON values) tells the hub
    about its child."""
    subject: Mapping[str, Any] = notice["subject"]
    agency = str(notice["source"]["agency"])
    notice_type = str(notice["notice_type"])
    detail: Mapping[str, Any] = notice.get("detail") or {}
    concerns = [str(c["code"]) for c in notice.get("concerns") or ()]
    return {
        "notice_id": str(notice["notice_id"]),
        "child_key": str(subject["linkage_key"]),
        "agency": agency,
        "notice_type": notice_type,
        "created_at": _time(notice["created_at"]),
        "exploitation_flagged": (
            subject.get("exploitation_flagged") is True
            or notice_type in _EXPLOITATION_NOTICE_TYPES
            or any(code in EXPLOITATION_CONCERNS for code in concerns)
        ),
        "exploitation_types": _exploitation_types(notice_type, detail, concerns),
        "missing_episode": _missing_episode(detail) if notice_type == "MISSING_EPISODE" else None,
        "looked_after": _looked_after(agency, subject.get("looked_after")),
        "placing_la": _text(subject.get("placing_la")),
        "responsible_la": _text(subject.get("responsible_la")),
        "cp_plan": _cp_plan(notice_type, detail, notice["created_at"]),
        "school_urn": _school_urn(detail) if notice_type == "DOMESTIC_ABUSE_INCIDENT" else None,
    }


def empty_context(child_key: str) -> ChildContext:
    """The context of a child the hub has learned nothing about."""
    return {
        "child_key": child_key,
        "keys": [child_key],
        "exploitation": {"flagged": False, "flagged_by": [], "types": []},
        "missing_episodes": [],
        "looked_after": None,
        "placing_la": None,
        "responsible_la": None,
        "cp_plan": None,
        "school_urn": None,
    }


def _exploitation_types(
    notice_type: str, detail: Mapping[str, Any], concerns: Iterable[str]
) -> list[str]:
    named: set[str] = set()
    if notice_type == "EXPLOITATION_CONCERN":
        named.update(str(t) for t in detail.get("exploitation_types") or ())
    elif notice_type == "TRAFFICKING_NRM" and detail.get("exploitation_type"):
        named.add(str(detail["exploitation_type"]))
    named.update(
        EXPLOITATION_TYPE_OF_CONCERN[c] for c in concerns if c in EXPLOITATION_TYPE_OF_CONCERN
    )
    return sorted(named)


def _missing_episode(detail: Mapping[str, Any]) -> dict[str, Any]:
    started = detail.get("started_at")
    return {
        "status": str(detail["status"]),
        "risk_grade": _text(detail.get("risk_grade")),
        "started_at": _time(started) if started is not None else None,
    }


def _looked_after(agency: str, said: Any) -> bool | None:
    if said is True:
        return True
    if said is False and agency == _LOOKED_AFTER_HOLDER:
        return False
    return None


def _cp_plan(notice_type: str, detail: Mapping[str, Any], created_at: Any) -> bool | None:
    if notice_type == "CSC_STATUS_CHANGE":
        return _CP_PLAN_CHANGES.get(str(detail.get("change")))
    if notice_type == "HEALTH_SAFEGUARDING_ALERT":
        flag = detail.get("cpis_flag")
        if not isinstance(flag, Mapping) or flag.get("plan_type") not in _CP_PLAN_TYPES:
            return None
        ends = flag.get("plan_end")
        # A plan is open while it has no end date, or one after the day of the notice.
        return ends is None or _date(ends) > _date(created_at)
    return None


def _school_urn(detail: Mapping[str, Any]) -> str | None:
    written = _text(detail.get("school_urn"))
    return normalise_school_urn(written) if written else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _time(value: Any) -> str:
    """RFC 3339, UTC, milliseconds, `+00:00`: as the policy input renders notice times."""
    if isinstance(value, dt.datetime):
        return str(to_json_value(value))
    parsed = dt.datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return str(to_json_value(parsed))


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date()
    if isinstance(value, dt.date):
        return value
    text = str(value)
    if "T" in text:
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC).date()
    return dt.date.fromisoformat(text)
