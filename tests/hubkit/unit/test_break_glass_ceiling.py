"""Emergency access never reaches past the IG officers' disclosure ceiling (issue 18, R5).

Break-glass widens what the sharing rules gave a desk, but the ceiling is "the most a
recipient may ever receive, whatever the sharing rules say": the unsanitised account of a
police intelligence report never leaves police (DOMAIN R5), so a MASH manager can ask for its
summary in an emergency, never for its full account. Read from the real policy files."""

from __future__ import annotations

from pathlib import Path

from services.hubkit.break_glass import BreakGlassRules, refusal
from services.hubkit.ceilings import Ceilings, FieldCatalogue

POLICIES = Path(__file__).resolve().parents[3] / "policies"
RULES = BreakGlassRules.load(POLICIES)
CEILINGS = Ceilings.load(POLICIES)

WITHHELD = ("narrative.full_account", "narrative.summary", "detail.source_details")


def test_the_unsanitised_police_account_is_never_offered() -> None:
    offered = RULES.grantable(WITHHELD, role="MASH_MANAGER", notice_type="POLICE_INTELLIGENCE")
    assert "narrative.summary" in offered
    assert "narrative.full_account" not in offered
    assert "detail.source_details" not in offered  # a never-path as well


def test_a_request_for_it_is_refused_with_words_that_say_why() -> None:
    words = refusal(
        RULES,
        role="MASH_MANAGER",
        reason="CHILD_PRESENTING_NOW",
        justification="Child in ED now",
        requested=("narrative.full_account",),
        withheld=WITHHELD,
        notice_type="POLICE_INTELLIGENCE",
    )
    assert words is not None
    assert "even in an emergency" in words
    allowed = refusal(
        RULES,
        role="MASH_MANAGER",
        reason="CHILD_PRESENTING_NOW",
        justification="Child in ED now",
        requested=("narrative.summary",),
        withheld=WITHHELD,
        notice_type="POLICE_INTELLIGENCE",
    )
    assert allowed is None


def test_no_notice_type_offers_a_path_beyond_the_requesters_ceiling() -> None:
    catalogue_types = {t for (_, t) in _role_types()}
    assert "POLICE_INTELLIGENCE" in catalogue_types
    for role, notice_type in _role_types():
        if role not in RULES.may_request_roles:
            continue
        every = sorted(_every_path(notice_type))
        offered = RULES.grantable(every, role=role, notice_type=notice_type)
        assert not CEILINGS.excess(role, notice_type, offered), (role, notice_type)


def _role_types() -> list[tuple[str, str]]:
    catalogue = FieldCatalogue.load(POLICIES)
    return [(r, t) for r in sorted(CEILINGS.roles) for t in sorted(catalogue.notice_types)]


def _every_path(notice_type: str) -> frozenset[str]:
    return FieldCatalogue.load(POLICIES).every_path(notice_type)
