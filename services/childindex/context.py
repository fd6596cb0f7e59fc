"""What the hub has learned about one child, from every agency and every key it had. Pure.

The gateway records an observation per notice it decides (services/hubkit/child_context.py
makes one from a notice) and reads the child's context back for the policy: R7, R8, R9 and R12
then use what any agency told the hub, not only the notice in hand (policies/README.md,
`input.context`). The context is for deciding only; no view ever carries it.

- exploitation: flagged when any notice flagged the child or named an exploitation type;
  by which agencies, and the types.
- missing episodes: one per episode, oldest first. Two agencies reporting the same episode
  (police take the report, children's services log it) or one agency reporting it missing
  then returned is still one episode: episodes are told apart by their start time; an
  episode without one counts on its own.
- looked-after status, placing and responsible LA, CP plan, school URN: the latest value
  any agency reported (by the notice's creation time), null when none did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["LATEST_VALUE_FIELDS", "child_context"]

# Facts where the latest report wins (a child who stopped being looked after, moved school).
LATEST_VALUE_FIELDS = ("looked_after", "placing_la", "responsible_la", "cp_plan", "school_urn")


def child_context(
    child_key: str, keys: Sequence[str], observations: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The context of the child whose current key is `child_key` and who has had `keys`,
    from the observations of notices under any of those keys (in any order)."""
    ordered = sorted(observations, key=lambda o: (str(o.get("created_at") or ""), o["notice_id"]))
    flagged_by: list[str] = []
    types: list[str] = []
    episodes: dict[str, dict[str, Any]] = {}
    latest: dict[str, Any] = dict.fromkeys(LATEST_VALUE_FIELDS)
    for observation in ordered:
        agency = str(observation.get("agency") or "")
        named = [str(t) for t in observation.get("exploitation_types") or ()]
        if observation.get("exploitation_flagged") is True or named:
            if agency and agency not in flagged_by:
                flagged_by.append(agency)
            types += [t for t in named if t not in types]
        episode = observation.get("missing_episode")
        if isinstance(episode, Mapping):
            started = episode.get("started_at")
            identity = f"start:{started}" if started else f"notice:{observation['notice_id']}"
            seen = episodes.get(identity)
            episodes[identity] = {
                # The first report of an episode keeps its place; later ones update its status.
                "agency": seen["agency"] if seen else agency,
                "status": episode.get("status"),
                "risk_grade": episode.get("risk_grade") or (seen or {}).get("risk_grade"),
                "started_at": started,
                "notice_id": seen["notice_id"] if seen else observation["notice_id"],
            }
        for field in LATEST_VALUE_FIELDS:
            if observation.get(field) is not None:
                latest[field] = observation[field]
    return {
        "child_key": child_key,
        "keys": sorted(keys),
        "exploitation": {
            "flagged": bool(flagged_by),
            "flagged_by": sorted(flagged_by),
            "types": sorted(types),
        },
        "missing_episodes": sorted(
            episodes.values(), key=lambda e: (e["started_at"] is None, e["started_at"] or "")
        ),
        **latest,
    }
