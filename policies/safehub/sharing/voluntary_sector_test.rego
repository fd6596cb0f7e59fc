package safehub.sharing_test

_early_help := _with(_sample("MASH_DECISION"), {"detail": {"outcome": "EARLY_HELP", "family_agreement": true}})

test_early_help_lead_professional_gets_the_voluntary_sector_minimum if {
	decision := _decide_for(_early_help, _all_subscribers)["early-help-charity"]
	decision.outcome == "PARTIAL"
	_fields(decision) == {
		"notice_id", "notice_type", "created_at", "subject.linkage_key", "subject.given_name",
		"subject.family_name", "subject.date_of_birth", "concerns", "detail.agreed_actions",
		"contact_point",
	}
	decision.purpose == "EARLY_HELP_SUPPORT"
	decision.isa_clause == "ISA-5.3"
	decision.rule_ids == ["R10", "R11", "R14", "R15", "R2"]
	decision.lawful_basis.statutory_gateway == "Children Act 2004 s10"
}

test_voluntary_sector_update_shares_needs_actions_and_safety_instructions if {
	decision := _decide_for(_sample("VCS_UPDATE"), _all_subscribers)["early-help-charity"]
	decision.outcome == "PARTIAL"
	_fields(decision) == {
		"notice_id", "notice_type", "created_at", "subject.linkage_key", "subject.given_name",
		"subject.family_name", "subject.date_of_birth", "concerns", "detail.category_of_need",
		"detail.agreed_actions", "detail.safety_instructions", "contact_point",
	}

	# The source is never named to the voluntary sector.
	contains(decision.explanation, "withheld the source agency, the source organisation, the source's own reference and the sending system because the voluntary sector is not told the source and never receives health detail or police intelligence (R10)")
}

test_voluntary_sector_never_gets_health_or_police_intelligence if {
	health := _decide(_sample("HEALTH_SAFEGUARDING_ALERT"))["return-interview-provider"]
	health.explanation == "Withheld because the voluntary sector never receives health detail or police intelligence (R10)."
	every notice in [_sample("HEALTH_SAFEGUARDING_ALERT"), _sample("POLICE_INTELLIGENCE")] {
		decisions := _decide_for(notice, _all_subscribers)
		every sid in ["return-interview-provider", "early-help-charity"] {
			decisions[sid].outcome == "DENY"
			"R10" in decisions[sid].rule_ids
		}
	}
}

# The ceiling holds even if a view is widened by mistake.
test_voluntary_sector_ceiling_beats_a_wide_view if {
	notice := _graded(_sample("VCS_UPDATE"), "GRADING_3X5X2", "P")
	decisions := _decide_for(notice, _all_subscribers) with data.safehub.rules.views.voluntary_sector as ["ALL"]
	decision := decisions["early-help-charity"]
	"narrative.summary" in decision.permitted_fields
	every path in ["source.agency", "intelligence_grading", "referrer", "narrative.full_account"] {
		not path in decision.permitted_fields
	}
}
