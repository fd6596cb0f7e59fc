"""Emergency access ('break-glass', issue 18): the IG officers' rules for it and the checks
every side makes the same way. Pure; shared by the console (which offers only what the rules
allow and publishes the request), the gateway (which checks the request again, answers it on
the requester's feed and audits it) and the audit service (which lists grants for review).

The rules live in `policies/safehub/breakglass/data.json` (IG-owned, in the policy bundle):
who may ask and through which service (`requesting_services`: the owner of the key that
signs a request -> the roles it may ask for and the desks it may ask for; the console for a
MASH manager at the mash-manager desk, CP-IS for an unscheduled care clinician at the
cpis-register desk; `may_request_roles` is their union), why (`reasons`, the BreakGlassReason
symbols with their words), for how long (`grant_hours`) and what is never given even then
(`never_paths`: sources and other people's information), and which desk of the owning agency
is told at once of each grant (`owner_alert_desks`: agency code -> subscriber id, each a
desk of that agency; an agency with none cannot be told, so emergency access to its notices
is refused).

A request is trusted only when `may_sign(signer, role, desk)`: a service speaks for its own
people at its own desks and no other (the console cannot ask for the register, CP-IS cannot
ask for the MASH manager). It is allowed (`refusal` returns None) when the person's role may
ask, the reason is one of the list, the justification is given and short enough, and every
path asked for is one the notice holds, was withheld from the desk, and is not a never-path.
A grant shows the paths asked for, nothing else, to that person only, until `expires_at`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from services.hubkit.ceilings import Ceilings
from services.hubkit.errors import HubError
from services.hubkit.notice import hub_uuid5
from services.hubkit.topology import CONSOLE_PRINCIPAL

__all__ = [
    "BREAK_GLASS_ALERT_DELIVERED",
    "BREAK_GLASS_ALERT_REASON_CODE",
    "BREAK_GLASS_DATA",
    "BREAK_GLASS_REASON_CODE",
    "BREAK_GLASS_REFUSED",
    "EMERGENCY_ACCESS_PURPOSE",
    "NO_ALERT_DESK",
    "BreakGlassRules",
    "BreakGlassRulesInvalid",
    "RequestingService",
    "alert_id",
    "grant_decision_id",
    "refusal",
]

BREAK_GLASS_DATA = Path("safehub") / "breakglass" / "data.json"
"""Where the rules are, under a policies folder."""


EMERGENCY_ACCESS_PURPOSE = "EMERGENCY_ACCESS"
"""The purpose a grant's audit record and feed item carry: the audit store's indexed purpose
column finds grants (the IG review queue) without decoding every decision."""
BREAK_GLASS_REASON_CODE = "BREAK_GLASS"
"""The reason_code of a grant's audit record."""
BREAK_GLASS_REFUSED = "BREAK_GLASS_REFUSED"
"""The reason_code of a refused request's audit record, and its dead letter's reason."""
BREAK_GLASS_ALERT_DELIVERED = "BREAK_GLASS_ALERT_DELIVERED"
"""The AuditEvent of the owning agency's alert desk being told of a grant."""
BREAK_GLASS_ALERT_REASON_CODE = "BREAK_GLASS_ALERT"
"""The reason_code of that audit record."""
NO_ALERT_DESK = (
    "the agency that holds this information cannot be told at once through the hub, so "
    "emergency access cannot be given: contact that agency directly"
)
"""The refusal when the owning agency has no alert desk (it never names the agency: the
desk may not have been told which agency sent the notice)."""

_SUBSCRIBERS_DATA = Path("safehub") / "subscribers" / "data.json"
_AGENCIES_DATA = Path("safehub") / "agencies" / "data.json"


class BreakGlassRulesInvalid(HubError):
    """The IG officers' break-glass rules cannot be enforced as written."""


@dataclass(frozen=True, slots=True)
class RequestingService:
    """A service whose signed requests the gateway reads: who it asks for, and for which desks."""

    roles: frozenset[str]
    desks: frozenset[str]


@dataclass(frozen=True, slots=True)
class BreakGlassRules:
    grant_hours: int
    requesting_services: Mapping[str, RequestingService]
    """Signing key owner (a Kafka principal) -> the roles and desks it may ask for."""
    reasons: Mapping[str, str]
    """BreakGlassReason symbol -> the words a person reads."""
    justification_max_chars: int
    never_paths: frozenset[str]
    owner_alert_desks: Mapping[str, str]
    """Owning agency code -> the subscriber id of its desk told of every grant."""
    ceilings: Ceilings | None = None
    """The IG officers' disclosure ceilings (policies/safehub/ceilings/data.json): emergency
    access widens what the sharing rules gave a desk, never past the most its role may ever
    receive for the notice type (e.g. the unsanitised account of a police intelligence
    report, which R5 keeps inside police). `load` always sets it; None only in rules built
    from data alone, whose callers then pass no role and notice type."""

    @staticmethod
    def load(policies_dir: Path) -> BreakGlassRules:
        """The rules, with each alert desk and requesting service's desk checked against the
        subscribers' data beside them, and each requesting service against the principals."""
        path = policies_dir / BREAK_GLASS_DATA
        data = _read_json(path)
        subscribers = _read_json(policies_dir / _SUBSCRIBERS_DATA)
        if not isinstance(subscribers, Mapping):
            raise BreakGlassRulesInvalid(f"{policies_dir / _SUBSCRIBERS_DATA}: not an object")
        desks = {
            str(k): str(v.get("agency")) for k, v in subscribers.items() if isinstance(v, Mapping)
        }
        agencies = _read_json(policies_dir / _AGENCIES_DATA)
        if not isinstance(agencies, Mapping):
            raise BreakGlassRulesInvalid(f"{policies_dir / _AGENCIES_DATA}: not an object")
        signers = {CONSOLE_PRINCIPAL} | {
            str(v.get("principal")) for v in agencies.values() if isinstance(v, Mapping)
        }
        rules = BreakGlassRules.from_data(data, where=str(path), desks=desks, signers=signers)
        return dataclasses.replace(rules, ceilings=Ceilings.load(policies_dir))

    @staticmethod
    def from_data(
        data: Any,
        *,
        where: str = "break-glass rules",
        desks: Mapping[str, str] | None = None,
        signers: Collection[str] | None = None,
    ) -> BreakGlassRules:
        """`desks` (subscriber id -> its agency code), when given, is what each alert desk
        is checked against: a desk that is not a subscriber, or is another agency's, could
        never tell the owner; and each requesting service's desks: a desk that is not a
        subscriber has no feed to answer on. `signers` (the console and the agencies'
        principals), when given, is what each requesting service is checked against: a
        name that owns no key could never sign a request."""

        def need(name: str, kind: type) -> Any:
            value = data.get(name) if isinstance(data, Mapping) else None
            if not isinstance(value, kind) or isinstance(value, bool):
                raise BreakGlassRulesInvalid(f"{where}: '{name}' must be a {kind.__name__}")
            return value

        hours = need("grant_hours", int)
        if not 1 <= hours <= 24:
            raise BreakGlassRulesInvalid(f"{where}: 'grant_hours' must be 1 to 24, not {hours}")
        services = _requesting_services(need("requesting_services", dict), where, desks, signers)
        reasons = need("reasons", dict)
        if not reasons or not all(isinstance(v, str) and v for v in reasons.values()):
            raise BreakGlassRulesInvalid(f"{where}: 'reasons' must give words for each reason")
        limit = need("justification_max_chars", int)
        never = need("never_paths", list)
        alert_desks = need("owner_alert_desks", dict)
        for agency, desk in alert_desks.items():
            if not isinstance(desk, str) or not desk:
                raise BreakGlassRulesInvalid(
                    f"{where}: 'owner_alert_desks' must name a subscriber id for {agency}"
                )
            if desks is not None and desk not in desks:
                raise BreakGlassRulesInvalid(
                    f"{where}: the alert desk for {agency}, {desk!r}, is not a subscriber; "
                    "add it to policies/safehub/subscribers/data.json or name another"
                )
            if desks is not None and desks[desk] != agency:
                raise BreakGlassRulesInvalid(
                    f"{where}: the alert desk for {agency}, {desk!r}, is a desk of "
                    f"{desks[desk]}; name one of {agency}'s own desks"
                )
        return BreakGlassRules(
            grant_hours=hours,
            requesting_services=services,
            reasons={str(k): str(v) for k, v in reasons.items()},
            justification_max_chars=limit,
            never_paths=frozenset(str(p) for p in never),
            owner_alert_desks={str(k): str(v) for k, v in alert_desks.items()},
        )

    @property
    def may_request_roles(self) -> frozenset[str]:
        """Every role some requesting service may ask for (the union)."""
        return frozenset().union(*(s.roles for s in self.requesting_services.values()))

    def may_ask(self, roles: Collection[str]) -> bool:
        return any(role in self.may_request_roles for role in roles)

    def roles_for(self, signer: str) -> frozenset[str]:
        """The roles `signer`'s requests may name (empty for a service that may not ask)."""
        service = self.requesting_services.get(signer)
        return frozenset() if service is None else service.roles

    def may_sign(self, owner: str, role: str, desk: str) -> bool:
        """Whether a request signed with `owner`'s key may ask for `role` at `desk`: the
        owner is a requesting service, and the role and the desk are both its own."""
        service = self.requesting_services.get(owner)
        return service is not None and role in service.roles and desk in service.desks

    def grantable(
        self, withheld: Collection[str], *, role: str | None = None, notice_type: str | None = None
    ) -> tuple[str, ...]:
        """Of the paths withheld from a desk, those emergency access may give (sorted): never
        a never-path, and, given the requester's role and the notice type, never one beyond
        that role's ceiling for the type (fail closed: a role with no ceiling gets nothing)."""
        paths = [p for p in withheld if p not in self.never_paths]
        if self.ceilings is not None and role is not None and notice_type is not None:
            beyond = self.ceilings.excess(role, notice_type, paths)
            paths = [p for p in paths if p not in beyond]
        return tuple(sorted(paths))

    def expires_at(self, granted_at: dt.datetime) -> dt.datetime:
        return granted_at + dt.timedelta(hours=self.grant_hours)

    def alert_desk(self, agency: str) -> str | None:
        """The subscriber id told of grants over `agency`'s notices; None when it has none."""
        return self.owner_alert_desks.get(agency)


def _requesting_services(
    raw: Mapping[str, Any],
    where: str,
    desks: Mapping[str, str] | None,
    signers: Collection[str] | None,
) -> Mapping[str, RequestingService]:
    if not raw:
        raise BreakGlassRulesInvalid(f"{where}: 'requesting_services' names no service")
    services = {}
    for owner, entry in raw.items():
        at = f"{where}: 'requesting_services.{owner}'"
        if signers is not None and owner not in signers:
            raise BreakGlassRulesInvalid(
                f"{at}: {owner!r} is not the console nor an agency's principal "
                "(policies/safehub/agencies/data.json), so it owns no key to sign a request"
            )
        lists = {}
        for name in ("roles", "desks"):
            value = entry.get(name) if isinstance(entry, Mapping) else None
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, str) and v for v in value)
            ):
                raise BreakGlassRulesInvalid(f"{at}: '{name}' must be a list of names")
            lists[name] = frozenset(value)
        for desk in sorted(lists["desks"]):
            if desks is not None and desk not in desks:
                raise BreakGlassRulesInvalid(
                    f"{at}: the desk {desk!r} is not a subscriber; add it to "
                    "policies/safehub/subscribers/data.json or name another"
                )
        services[str(owner)] = RequestingService(roles=lists["roles"], desks=lists["desks"])
    return MappingProxyType(services)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BreakGlassRulesInvalid(f"{path}: cannot be read as JSON ({error})") from None


def refusal(
    rules: BreakGlassRules,
    *,
    role: str,
    reason: str,
    justification: str,
    requested: Collection[str],
    withheld: Collection[str],
    notice_type: str | None = None,
) -> str | None:
    """Why this request may not be granted, in words for the person; None when it may. The
    console asks before publishing and the gateway again before granting."""
    if role not in rules.may_request_roles:
        return "your role may not use emergency access"
    if reason not in rules.reasons:
        return "choose a reason from the list"
    text = justification.strip()
    if not text:
        return "say in your own words why you need this now"
    if len(text) > rules.justification_max_chars:
        return f"keep the reason to {rules.justification_max_chars} characters"
    if not requested:
        return "choose what you need to see"
    allowed = set(rules.grantable(withheld, role=role, notice_type=notice_type))
    if not set(requested) <= allowed:
        return (
            "only information withheld from your desk can be asked for, never who told an "
            "agency, and never what your role may not receive even in an emergency"
        )
    return None


def grant_decision_id(*, request_id: str, subscriber_id: str) -> str:
    """The decision id of a grant's audit record and feed item (one per request)."""
    return hub_uuid5(f"break-glass:{request_id}:{subscriber_id}")


def alert_id(*, request_id: str, alert_desk_id: str) -> str:
    """The id of the owning agency's BreakGlassAlert for a grant and of its
    BREAK_GLASS_ALERT_DELIVERED audit record (one per request and alert desk)."""
    return hub_uuid5(f"break-glass-alert:{request_id}:{alert_desk_id}")
