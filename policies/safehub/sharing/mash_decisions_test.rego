package safehub.sharing_test

_decision_with(patch) := _with(_sample("MASH_DECISION"), {"detail": patch})

_la_decision := _sample_paths("MASH_DECISION") - {
	"referrer", "third_parties", "narrative.full_account", "narrative.sensitivity",
	"detail.rationale", "detail.related_notice_ids",
}

# What a referring agency hears back: the outcome only.
_feedback := {
	"notice_id", "notice_type", "created_at", "subject.linkage_key", "subject.given_name",
	"subject.family_name", "subject.date_of_birth", "detail.outcome", "contact_point",
}

# A police subscriber outside the MASH, registered to act on immediate protection.
_police_protection := _test_subscriber("POLICE", "POL-XX01", "POLICE_PROTECTION_TEAM", false, ["POLICING_SAFEGUARDING"])

# R11: early help without the family's agreement is not routed outside the MASH; the
# referring agencies still hear the outcome.
test_early_help_without_family_agreement_is_not_routed if {
	decisions := _decide_for(_decision_with({"outcome": "EARLY_HELP", "family_agreement": false}), _all_subscribers)
	every sid in ["responsible-la", "return-interview-provider", "school-dsl", "early-help-charity", "unscheduled-care", "placing-la", "emergency-duty-team", "cpis-register"] {
		decisions[sid].outcome == "DENY"
		decisions[sid].rule_ids == ["R11", "R15"]
		decisions[sid].isa_clause == "ISA-5.4"
		decisions[sid].explanation == "Withheld because early help needs the family's recorded agreement, which this decision does not have, so it is not routed outside the MASH (R11)."
	}
	every sid in ["mash-manager", "mash-health-navigator", "mash-police-researcher"] {
		decisions[sid].outcome == "PERMIT"
	}
	every sid in ["police-safeguarding-team", "health-safeguarding-team"] {
		decisions[sid].outcome == "PARTIAL"
		_fields(decisions[sid]) == _feedback
	}
}

test_early_help_with_no_recorded_agreement_is_not_routed if {
	notice := json.remove(_decision_with({"outcome": "EARLY_HELP"}), ["detail/family_agreement"])
	not "family_agreement" in object.keys(notice.detail)
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

# R11: s47 and immediate protection are routed without the family's agreement; immediate
# protection relies on the public task and the s47 duty (not vital interests), with s46.
test_s47_and_immediate_protection_need_no_agreement if {
	expected := {
		"S47_STRATEGY_DISCUSSION": ["UK GDPR Art 6(1)(c) legal obligation (Children Act 1989 s47)", "Children Act 1989 s47"],
		"IMMEDIATE_PROTECTION": ["UK GDPR Art 6(1)(e) public task; Art 6(1)(c) legal obligation (Children Act 1989 s47)", "Children Act 1989 s47 and s46 (police protection)"],
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

# Every agency may need to hear back: the referring organisations' safeguarding teams are told
# the outcome, never the rationale.
test_referring_agencies_hear_the_outcome_only if {
	decisions := _decide(_decision_with({"outcome": "NFA"}))
	decisions["police-safeguarding-team"].lawful_basis.recipient_basis == "DPA 2018 Part 3 s35(5) and Sch 8 para 4 (the police's own law-enforcement processing after receipt)"
	decisions["health-safeguarding-team"].lawful_basis.recipient_basis == "UK GDPR Art 6(1)(e) public task"
	every sid in ["police-safeguarding-team", "health-safeguarding-team"] {
		decision := decisions[sid]
		decision.outcome == "PARTIAL"
		_fields(decision) == _feedback
		decision.purpose == "REFERRER_FEEDBACK"
		decision.isa_clause == "ISA-5.4"
		"R2" in decision.rule_ids
		decision.lawful_basis.statutory_gateway == "Children Act 2004 s11 and s16E (multi-agency safeguarding arrangements)"
		startswith(decision.explanation, "Shared because your organisation referred this child, so you are told the MASH's outcome (R2); ")
		endswith(decision.explanation, "; withheld everything else because the referrer is told the outcome only; the MASH's reasoning stays inside it (R2).")
	}
}

test_an_agency_that_did_not_refer_hears_nothing if {
	notice := _decision_with({"outcome": "NFA", "referring_organisations": ["NHS-RXX00"]})
	decisions := _decide(notice)
	decisions["health-safeguarding-team"].outcome == "PARTIAL"
	decisions["police-safeguarding-team"].outcome == "DENY"
	none := json.remove(notice, ["detail/referring_organisations"])
	_decide(none)["health-safeguarding-team"].outcome == "DENY"
}

# R11: an immediate protection decision goes to the MASH's partner police force (police
# protection, Children Act 1989 s46), without the family's agreement.
test_immediate_protection_goes_to_the_partner_police_force if {
	elsewhere := _test_subscriber("POLICE", "POL-YY02", "POLICE_PROTECTION_TEAM", false, ["POLICING_SAFEGUARDING"])
	subscribers := {"police-protection": _police_protection, "other-force": elsewhere}
	decisions := _decide_for(_decision_with({"outcome": "IMMEDIATE_PROTECTION", "family_agreement": false}), subscribers)
	police := decisions["police-protection"]
	police.outcome == "PARTIAL"
	_fields(police) == _la_decision
	police.purpose == "POLICING_SAFEGUARDING"
	police.isa_clause == "ISA-5.4"
	police.rule_ids == ["R11", "R14", "R15", "R2"]
	police.lawful_basis.statutory_gateway == "Children Act 1989 s47 and s46 (police protection)"
	police.lawful_basis.recipient_basis == "DPA 2018 Part 3 s35(5) and Sch 8 para 4 (the police's own law-enforcement processing after receipt)"
	decisions["other-force"].outcome == "DENY"
}

# The hub's own police public protection unit is that partner force's recipient.
test_immediate_protection_reaches_the_police_public_protection_unit if {
	decision := _decide(_decision_with({"outcome": "IMMEDIATE_PROTECTION", "family_agreement": false}))["police-safeguarding-team"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _la_decision
	decision.purpose == "POLICING_SAFEGUARDING"
	decision.rule_ids == ["R11", "R14", "R15", "R2"]
	startswith(decision.explanation, "Shared because the MASH decided the child needs immediate protection, which may need police protection (Children Act 1989 s46), so the police are told without needing the family's agreement (R11); ")
}

test_other_decisions_do_not_go_to_the_police_outside_the_mash if {
	every outcome in ["S47_STRATEGY_DISCUSSION", "S17_ASSESSMENT", "NFA"] {
		decisions := _decide_for(_decision_with({"outcome": outcome}), {"police-protection": _police_protection})
		decisions["police-protection"].outcome == "DENY"
	}
}
