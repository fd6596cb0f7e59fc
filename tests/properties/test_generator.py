"""The generator behind the property suite: valid notices, and every case it claims to cover
actually generated (a property is only as good as the notices it is checked on)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from services.hubkit.codec import SchemaCatalog
from services.hubkit.notice import encode_notice
from tests.factories import POLICIES, SCHEMAS
from tests.properties.generator import SENSITIVE_SETTINGS, Vocab, random_notices
from tests.properties.properties import EXTRA_SUBSCRIBERS

SUBSCRIBERS = POLICIES / "safehub" / "subscribers" / "data.json"
ISA = POLICIES / "safehub" / "isa" / "data.json"


@pytest.fixture(scope="module")
def generated() -> list[dict[str, Any]]:
    return list(random_notices(Vocab.load(POLICIES), seed=20261205, count=3000))


def test_generated_notices_encode_with_the_hub_schemas(generated: list[dict[str, Any]]) -> None:
    catalog = SchemaCatalog(SCHEMAS)
    for notice in generated[:1000]:
        assert encode_notice(catalog, notice)


def test_every_type_sender_classification_grading_and_flag_is_generated(
    generated: list[dict[str, Any]],
) -> None:
    vocab = Vocab.load(POLICIES)
    seen: Counter[str] = Counter()
    for n in generated:
        d, s, g = n["detail"], n["subject"], n["intelligence_grading"] or {}
        seen.update(
            [
                f"type:{n['notice_type']}",
                f"sender:{n['notice_type']}:{n['source']['agency']}",
                f"classification:{n['classification']}",
                f"grading:{g.get('scheme')}:{g.get('handling_code')}",
                f"authorised:{g.get('dissemination_authorisation') is not None}",
                f"looked_after:{s['looked_after']}",
                f"exploitation:{s['exploitation_flagged']}",
                f"danger:{n['risk']['immediate_danger']}",
            ]
        )
        if n["notice_type"] == "HEALTH_SAFEGUARDING_ALERT":
            seen[f"setting:{d['setting']}:released:{d['released_for_cp_decision']}"] += 1
        if n["notice_type"] == "MASH_DECISION":
            seen[f"outcome:{d['outcome']}:agreed:{d['family_agreement']}"] += 1
    wanted = {
        *(f"type:{t}" for t in vocab.senders),
        *(f"sender:{t}:{a}" for t, agencies in vocab.senders.items() for a in agencies),
        "classification:OFFICIAL",
        "classification:OFFICIAL_SENSITIVE",
        *(f"grading:GRADING_3X5X2:{c}" for c in "PC"),
        *(f"grading:LEGACY_5X5X5:{c}" for c in "12345"),
        "authorised:True",
        "looked_after:True",
        "exploitation:True",
        "danger:True",
        *(f"setting:{s}:released:{r}" for s in SENSITIVE_SETTINGS for r in (False, True)),
        *(f"outcome:EARLY_HELP:agreed:{a}" for a in (False, True)),
    }
    assert not wanted - set(seen), f"never generated: {sorted(wanted - set(seen))}"


def test_the_extra_subscribers_cover_every_role_in_other_organisations() -> None:
    roles = set(json.loads(ISA.read_text())["roles"])
    extra_roles = {e["role"] for e in EXTRA_SUBSCRIBERS.values()}
    assert extra_roles == roles, f"add an extra subscriber for {sorted(roles - extra_roles)}"
    existing = json.loads(SUBSCRIBERS.read_text()).values()
    for subscriber_id, extra in EXTRA_SUBSCRIBERS.items():
        same = [
            s
            for s in existing
            if (s["role"], s["organisation"]) == (extra["role"], extra["organisation"])
        ]
        assert not same, f"{subscriber_id} should be in another organisation than {same}"
