"""Property tests through decisions from the REAL sharing policy (regopy in process, the
same bundle OPA serves; parity is tested separately): whatever the notice, no subscriber's
copy carries a path the policy did not permit or one beyond the recipient's IG ceiling, and
FLAG_ONLY carries only the flag."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings

from services.gateway.domain.decisions import parse_decisions
from services.gateway.domain.intake import AcceptedNotice
from services.gateway.domain.pipeline import messages_for_decisions
from services.gateway.domain.records import RELAY_AGENCY
from services.gateway.domain.redaction import is_permitted, present_paths, redact
from services.gateway.engines import RegopyEngine
from services.gateway.settings import GatewaySettings
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.codec import MessageType
from services.hubkit.notice import to_json_value
from services.hubkit.sharing_decisions import SharingDecision, SharingOutcome
from services.hubkit.topology import Topology, load_topology
from tests.factories import POLICIES
from tests.gateway.notices import notices_strategy

FLAG_FIELDS = frozenset(
    json.loads((POLICIES / "safehub/fields/data.json").read_text())["groups"]["flag"]
)
RELAY = GatewaySettings().relay_contact
AT = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _engine() -> RegopyEngine:
    return RegopyEngine(POLICIES)


@cache
def _topology() -> Topology:
    return load_topology(POLICIES)


@cache
def _limits() -> DisclosureLimits:
    return DisclosureLimits.load(POLICIES)


def _decide(notice: dict[str, Any]) -> dict[str, SharingDecision]:
    result = _engine().evaluate_sync({"notice": notice}).result
    return parse_decisions(result, [s.subscriber_id for s in _topology().subscribers])


def _paths(view: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in view.items():
        out.append((prefix + key, value))
        if isinstance(value, dict):
            out += _paths(value, prefix + key + ".")
    return out


def _view_respects(view: dict[str, Any], permitted: tuple[str, ...]) -> None:
    for path, value in _paths(view):
        # A path appears only if permitted, under a permitted path, or as the parent object
        # that holds a permitted child.
        assert is_permitted(path, permitted) or any(p.startswith(path + ".") for p in permitted), (
            path
        )
        if not isinstance(value, dict):
            assert is_permitted(path, permitted), path
        if path in permitted:
            # Withheld or empty means absent: a permitted path that appears holds information.
            assert value is not None, path
            assert value not in ([], {}), path


@PROPERTY
@given(raw=notices_strategy())
def test_no_path_outside_the_permitted_set_appears_in_any_view(raw: dict[str, Any]) -> None:
    notice = to_json_value(raw)
    for decision in _decide(notice).values():
        view = redact(notice, decision.permitted_fields)
        _view_respects(view, decision.permitted_fields)
        if decision.outcome is SharingOutcome.DENY:
            assert view == {}
        else:
            # Everything permitted that the notice holds is delivered.
            held = present_paths(notice)
            for path in decision.permitted_fields:
                if path in held:
                    assert path in {p for p, _ in _paths(view)}, path


@PROPERTY
@given(raw=notices_strategy())
def test_flag_only_delivers_the_flag_and_who_to_contact_only(raw: dict[str, Any]) -> None:
    notice = to_json_value(raw)
    for decision in _decide(notice).values():
        if decision.outcome is not SharingOutcome.FLAG_ONLY:
            continue
        assert set(decision.permitted_fields) <= FLAG_FIELDS
        view = redact(notice, decision.permitted_fields)
        assert set(view) <= {
            "notice_id",
            "notice_type",
            "created_at",
            "source",
            "subject",
            "contact_point",
        }
        assert set(view.get("subject", {})) <= {"linkage_key"}
        assert set(view.get("source", {})) <= {"agency"}


@PROPERTY
@given(raw=notices_strategy())
def test_the_whole_feed_item_carries_nothing_the_policy_withheld(raw: dict[str, Any]) -> None:
    notice = to_json_value(raw)
    limits = _limits()
    decided = messages_for_decisions(
        accepted=AcceptedNotice(
            notice=notice, envelope_sha256=b"\0" * 32, payload_sha256=b"\0" * 32, signer="x"
        ),
        decisions=_decide(notice),
        topology=_topology(),
        limits=limits,
        policy_revision="rev",
        decided_at=AT,
        relay_contact=RELAY,
    )
    # As the gateway applies them: a decision beyond its ceiling is a DENY.
    decisions = {d.subscriber_id: d for d in decided.decisions}
    roles = {s.subscriber_id: s.role for s in _topology().subscribers}
    feeds = [m for m in decided.messages if m.message_type is MessageType.FEED_ITEM]
    audits = [m for m in decided.messages if m.message_type is MessageType.AUDIT_RECORD]
    assert len(audits) == len(decisions)  # one audit record per decision, disclosed or not
    assert len(feeds) == sum(d.discloses for d in decisions.values())
    for message in feeds:
        item = message.record
        decision = decisions[item["subscriber_id"]]
        permitted = decision.permitted_fields
        assert decision.outcome is not SharingOutcome.DENY
        assert not limits.ceilings.excess(
            roles[decision.subscriber_id], notice["notice_type"], permitted
        )
        _view_respects(json.loads(item["view_json"]), permitted)
        # The item's own fields repeat only permitted paths, or name the MASH relay instead.
        assert is_permitted("notice_id", permitted)
        assert is_permitted("notice_type", permitted)
        assert is_permitted("subject.linkage_key", permitted)
        agency = notice["source"]["agency"]
        if is_permitted("source.agency", permitted):
            assert item["source_agency"] == agency
        else:
            assert item["source_agency"] == RELAY_AGENCY
        if is_permitted("contact_point", permitted):
            assert item["contact_point"] == notice["contact_point"]
        elif is_permitted("source.agency", permitted) and agency in limits.safeguarding_contacts:
            # The agency's front door, never the (possibly telling) contact of the notice.
            assert item["contact_point"] == dict(limits.safeguarding_contacts[agency])
        else:
            assert item["contact_point"] == RELAY
        assert not set(item["fields_withheld"]) & set(permitted)
        assert set(item["fields_withheld"]) <= present_paths(notice)
        assert not any(is_permitted(p, limits.silent_paths) for p in item["fields_withheld"])
    for message in audits:
        record = message.record
        decision = decisions[record["recipient"]["subscriber_id"]]
        if not decision.discloses:
            assert record["fields_disclosed"] == []
            assert record["disclosed_at"] is None
        # The audit record names every withheld path, silent ones included.
        disclosed = decision.permitted_fields if decision.discloses else ()
        assert record["fields_withheld"] == sorted(
            p for p in present_paths(notice) if not is_permitted(p, disclosed)
        )


def test_a_subscriber_not_told_the_source_gets_the_mash_relay_instead() -> None:
    """R10: the return-interview provider must not learn who sent a missing-episode notice,
    so its feed item names the MASH and the MASH's contact point, not the police's."""
    from tests.policy.rules.cases import sample

    notice = sample("MISSING_EPISODE")
    decisions = _decide(notice)
    provider = decisions["return-interview-provider"]
    assert provider.outcome is SharingOutcome.PARTIAL
    assert not is_permitted("source.agency", provider.permitted_fields)
    messages = messages_for_decisions(
        accepted=AcceptedNotice(
            notice=notice, envelope_sha256=b"\0" * 32, payload_sha256=b"\0" * 32, signer="x"
        ),
        decisions=decisions,
        topology=_topology(),
        limits=_limits(),
        policy_revision="rev",
        decided_at=AT,
        relay_contact=RELAY,
    ).messages
    item = next(
        m.record
        for m in messages
        if m.message_type is MessageType.FEED_ITEM
        and m.record["subscriber_id"] == "return-interview-provider"
    )
    assert item["source_agency"] == RELAY_AGENCY
    assert item["contact_point"] == RELAY
    assert "POL-XX01" not in json.dumps(item, default=str)
