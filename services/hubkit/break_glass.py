"""Emergency access ('break-glass', issue 18): the IG officers' rules for it and the checks
every side makes the same way. Pure; shared by the console (which offers only what the rules
allow and publishes the request), the gateway (which checks the request again, answers it on
the requester's feed and audits it) and the audit service (which lists grants for review).

The rules live in `policies/safehub/breakglass/data.json` (IG-owned, in the policy bundle):
who may ask (`may_request_roles`), why (`reasons`, the BreakGlassReason symbols with their
words), for how long (`grant_hours`) and what is never given even then (`never_paths`:
sources and other people's information).

A request is allowed (`refusal` returns None) when the person's role may ask, the reason is
one of the list, the justification is given and short enough, and every path asked for is
one the notice holds, was withheld from the desk, and is not a never-path. A grant shows the
paths asked for, nothing else, to that person only, until `expires_at`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.hubkit.errors import HubError
from services.hubkit.notice import hub_uuid5

__all__ = [
    "BREAK_GLASS_DATA",
    "BREAK_GLASS_REASON_CODE",
    "BREAK_GLASS_REFUSED",
    "EMERGENCY_ACCESS_PURPOSE",
    "BreakGlassRules",
    "BreakGlassRulesInvalid",
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


class BreakGlassRulesInvalid(HubError):
    """The IG officers' break-glass rules cannot be enforced as written."""


@dataclass(frozen=True, slots=True)
class BreakGlassRules:
    grant_hours: int
    may_request_roles: frozenset[str]
    reasons: Mapping[str, str]
    """BreakGlassReason symbol -> the words a person reads."""
    justification_max_chars: int
    never_paths: frozenset[str]

    @staticmethod
    def load(policies_dir: Path) -> BreakGlassRules:
        path = policies_dir / BREAK_GLASS_DATA
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise BreakGlassRulesInvalid(f"{path}: cannot be read as JSON ({error})") from None
        return BreakGlassRules.from_data(data, where=str(path))

    @staticmethod
    def from_data(data: Any, *, where: str = "break-glass rules") -> BreakGlassRules:
        def need(name: str, kind: type) -> Any:
            value = data.get(name) if isinstance(data, Mapping) else None
            if not isinstance(value, kind) or isinstance(value, bool):
                raise BreakGlassRulesInvalid(f"{where}: '{name}' must be a {kind.__name__}")
            return value

        hours = need("grant_hours", int)
        if not 1 <= hours <= 24:
            raise BreakGlassRulesInvalid(f"{where}: 'grant_hours' must be 1 to 24, not {hours}")
        roles = need("may_request_roles", list)
        reasons = need("reasons", dict)
        if not reasons or not all(isinstance(v, str) and v for v in reasons.values()):
            raise BreakGlassRulesInvalid(f"{where}: 'reasons' must give words for each reason")
        limit = need("justification_max_chars", int)
        never = need("never_paths", list)
        return BreakGlassRules(
            grant_hours=hours,
            may_request_roles=frozenset(str(r) for r in roles),
            reasons={str(k): str(v) for k, v in reasons.items()},
            justification_max_chars=limit,
            never_paths=frozenset(str(p) for p in never),
        )

    def may_ask(self, roles: Collection[str]) -> bool:
        return any(role in self.may_request_roles for role in roles)

    def grantable(self, withheld: Collection[str]) -> tuple[str, ...]:
        """Of the paths withheld from a desk, those emergency access may give (sorted)."""
        return tuple(sorted(p for p in withheld if p not in self.never_paths))

    def expires_at(self, granted_at: dt.datetime) -> dt.datetime:
        return granted_at + dt.timedelta(hours=self.grant_hours)


def refusal(
    rules: BreakGlassRules,
    *,
    role: str,
    reason: str,
    justification: str,
    requested: Collection[str],
    withheld: Collection[str],
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
    allowed = set(rules.grantable(withheld))
    if not set(requested) <= allowed:
        return (
            "only information withheld from your desk can be asked for, and never who told "
            "an agency"
        )
    return None


def grant_decision_id(*, request_id: str, subscriber_id: str) -> str:
    """The decision id of a grant's audit record and feed item (one per request)."""
    return hub_uuid5(f"break-glass:{request_id}:{subscriber_id}")
