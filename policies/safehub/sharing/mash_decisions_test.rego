package safehub.sharing_test

_decision_with(patch) := _with(_sample("MASH_DECISION"), {"detail": patch})

_la_decision := _sample_paths("MASH_DECISION") - {
	"referrer", "third_parties", "narrative.full_account", "narrative.sensitivity",
	"detail.rationale", "detail.related_notice_ids",
}

# R11: early help without the family's agreement is not routed outside the MASH.
test_early_help_without_family_agreement_is_not_routed if {
	decisions := _decide_for(_decision_with({"outcome": "EARLY_HELP", "family_agreement": false}), _all_subscribers)
	every sid in ["responsible-la", "return-interview-provider", "school-dsl", "early-help-charity", "unscheduled-care", "placing-la"] {
		decisions[sid].outcome == "DENY"
		decisions[sid].rule_ids == ["R11", "R15"]
		decisions[sid].isa_clause == "ISA-5.4"
		decisions[sid].explanation == "Withheld because early help needs the family's recorded agreement, which this decision does not have, so it is not routed outside the MASH (R11)."
	}
	every sid in ["mash-manager", "mash-health-navigator", "mash-police-researcher"] {
		decisions[sid].outcome == "PERMIT"
	}
}

test_early_help_with_no_recorded_agreement_is_not_routed if {
	notice := object.remove(_decision_with({"outcome": "EARLY_HELP"}), ["detail/family_agreement"])
	decisions := _decide_for(notice, _all_subscribers)
	decisions["early-help-charity"].outcome == "DENY"
	decisions["early-help-charity"].rule_ids == ["R11", "R15"]
}

test_early_help_with_agreement_goes_to_early_help_not_the_local_authority if {
	decisions := _decide_for(_decision_with({"outcome": "EARLY_HELP", "family_agreement": true}), _all_subscribers)
	decisions["early-help-charity"].outcome == "PARTIAL"
	decisions["responsible-la"].outcome == "DENY"
	decisions["responsible-la"].explanation == "Withheld because this MASH decision needs no action by the local authority, so it stays in the MASH (R2)."
}

# R11: s47 and immediate protection are routed without the family's agreement.
test_s47_and_immediate_protection_need_no_agreement if {
	expected := {
		"S47_STRATEGY_DISCUSSION": ["UK GDPR Art 6(1)(c) legal obligation (Children Act 1989 s47)", "Children Act 1989 s47"],
		"IMMEDIATE_PROTECTION": ["UK GDPR Art 6(1)(d) vital interests", "Children Act 1989 s46 and s47"],
	}
	every outcome, basis in expected {
		decision := _decide(_decision_with({"outcome": outcome, "family_agreement": false}))["responsible-la"]
		decision.outcome == "PARTIAL"
		_fields(decision) == _la_decision
		decision.rule_ids == ["R11", "R14", "R15", "R2"]
		[decision.lawful_basis.article6, decision.lawful_basis.statutory_gateway] == basis
		decision.purpose == "CHILD_PROTECTION_ENQUIRY"
	}
}

test_child_in_need_assessment_and_open_case_go_to_the_local_authority if {
	every outcome in ["S17_ASSESSMENT", "OPEN_CASE"] {
		decision := _decide(_decision_with({"outcome": outcome}))["responsible-la"]
		decision.outcome == "PARTIAL"
		decision.rule_ids == ["R14", "R15", "R2"]
	}
	s17 := _decide(_decision_with({"outcome": "S17_ASSESSMENT"}))["responsible-la"]
	s17.lawful_basis.statutory_gateway == "Children Act 1989 s17"
}

test_looked_after_child_decision_serves_looked_after_care if {
	notice := _with(_decision_with({"outcome": "S17_ASSESSMENT"}), {"subject": {"looked_after": true}})
	_decide(notice)["responsible-la"].purpose == "LOOKED_AFTER_CARE"
}

test_no_further_action_stays_in_the_mash if {
	every outcome in ["NFA", "ADVICE_SIGNPOSTING"] {
		decisions := _decide(_decision_with({"outcome": outcome}))
		decisions["responsible-la"].outcome == "DENY"
		decisions["responsible-la"].rule_ids == ["R15", "R2"]
		decisions["mash-health-navigator"].outcome == "PERMIT"
	}
}
