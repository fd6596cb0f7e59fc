package safehub.sharing_test

# The sample decision names the early help charity (detail.early_help_organisation).
_early_help := _with(_sample("MASH_DECISION"), {"detail": {"outcome": "EARLY_HELP", "family_agreement": true}})

# R10: identifiers, category of need, agreed actions and safety instructions, as far as the
# notice holds them; never the source, so not the sender's contact point either.
_vcs_allowed := {
	"notice_id", "notice_type", "created_at", "subject.linkage_key", "subject.given_name",
	"subject.family_name", "subject.date_of_birth", "concerns", "detail.category_of_need",
	"detail.agreed_actions", "detail.safety_instructions",
}

# The lead professional's contact: the contact point of a notice the MASH sent.
_vcs_expected(type) := (_vcs_allowed | {"contact_point"}) & _sample_paths(type) if {
	type == "MASH_DECISION"
} else := _vcs_allowed & _sample_paths(type)

_vcs_reason := "because the voluntary sector receives only identifiers, category of need, agreed actions, safety instructions and the lead professional's contact (R10)"

test_early_help_lead_professional_gets_the_voluntary_sector_minimum if {
	decision := _decide_for(_early_help, _all_subscribers)["early-help-charity"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _vcs_expected("MASH_DECISION")
	decision.purpose == "EARLY_HELP_SUPPORT"
	decision.isa_clause == "ISA-5.3"
	decision.rule_ids == ["R10", "R11", "R15"]
	decision.lawful_basis.statutory_gateway == "Children Act 2004 s10"
	decision.lawful_basis.recipient_basis == "UK GDPR Art 6(1)(f) legitimate interests"
	contains(decision.explanation, _vcs_reason)
}

# Early help goes to the organisation the decision names, not to every early help worker.
test_early_help_goes_only_to_the_named_organisation if {
	other := _test_subscriber("VOLUNTARY_SECTOR", "VCS-SYN005", "EARLY_HELP_WORKER", false, ["EARLY_HELP_SUPPORT"])
	subscribers := object.union(_all_subscribers, {"other-early-help": other})
	decisions := _decide_for(_early_help, subscribers)
	decisions["early-help-charity"].outcome == "PARTIAL"
	decisions["other-early-help"].outcome == "DENY"
	unnamed := json.remove(_early_help, ["detail/early_help_organisation"])
	_decide_for(unnamed, subscribers)["early-help-charity"].outcome == "DENY"
}

# R10: a charity's own updates go to the MASH, not straight to other charities.
test_voluntary_sector_updates_go_to_the_mash_not_to_early_help if {
	decisions := _decide_for(_sample("VCS_UPDATE"), _all_subscribers)
	decisions["mash-manager"].outcome == "PERMIT"
	decision := decisions["early-help-charity"]
	decision.outcome == "DENY"
	decision.explanation == "Withheld because no sharing rule gives the early help lead professional a need to know about voluntary sector update notices, and MASH triage material stays inside the MASH (R2)."
}

# R10 is an allow-list wherever the charity sits: a voluntary sector partner inside the MASH
# gets no more than a charity outside it, and is never told the source.
test_voluntary_sector_partner_in_the_mash_gets_the_allow_list_only if {
	every type in ["SAFEGUARDING_CONTACT", "DOMESTIC_ABUSE_INCIDENT", "MISSING_EPISODE", "EXPLOITATION_CONCERN", "CSC_STATUS_CHANGE", "MASH_DECISION", "VCS_UPDATE"] {
		decision := _decide_for(_sample(type), _all_subscribers)["vcs-mash-partner"]
		decision.outcome == "PARTIAL"
		_fields(decision) == _vcs_expected(type)
		"R10" in decision.rule_ids
		contains(decision.explanation, _vcs_reason)
		decision.lawful_basis.recipient_basis == "UK GDPR Art 6(1)(f) legitimate interests"
	}
	update := _decide_for(_sample("VCS_UPDATE"), _all_subscribers)["vcs-mash-partner"]
	every path in ["detail.category_of_need", "detail.agreed_actions", "detail.safety_instructions"] {
		path in update.permitted_fields
	}
	every path in ["source.agency", "source.organisation_code", "contact_point", "referrer", "third_parties", "narrative.summary", "detail.outcome_summary"] {
		not path in update.permitted_fields
	}
}

# A flag carries no more than the allow-list either.
test_voluntary_sector_partner_flag_is_within_the_allow_list if {
	decision := _decide_for(_sample("TRAFFICKING_NRM"), _all_subscribers)["vcs-mash-partner"]
	decision.outcome == "FLAG_ONLY"
	_fields(decision) == {"notice_id", "notice_type", "created_at", "subject.linkage_key"}
	decision.rule_ids == ["R12", "R15"]
}

test_voluntary_sector_never_gets_health_or_police_intelligence if {
	health := _decide(_sample("HEALTH_SAFEGUARDING_ALERT"))["return-interview-provider"]
	health.explanation == "Withheld because the voluntary sector never receives health detail or police intelligence (R10)."
	every notice in [_sample("HEALTH_SAFEGUARDING_ALERT"), _sample("POLICE_INTELLIGENCE")] {
		decisions := _decide_for(notice, _all_subscribers)
		every sid in ["return-interview-provider", "early-help-charity", "vcs-mash-partner"] {
			decisions[sid].outcome == "DENY"
			"R10" in decisions[sid].rule_ids
		}
	}
}

# The allow-list holds even if a view is widened by mistake.
test_voluntary_sector_allow_list_beats_a_wide_view if {
	notice := _graded(_sample("SAFEGUARDING_CONTACT"), "GRADING_3X5X2", "P")
	decisions := _decide_for(notice, _all_subscribers) with data.safehub.rules.views.partner as ["ALL"]
	"narrative.full_account" in decisions["mash-health-navigator"].permitted_fields
	decision := decisions["vcs-mash-partner"]
	_fields(decision) == _vcs_allowed & _sample_paths("SAFEGUARDING_CONTACT")
	every path in ["source.agency", "intelligence_grading", "referrer", "narrative.full_account", "narrative.summary"] {
		not path in decision.permitted_fields
	}
}

# R2/R10: a charity that referred the child hears the outcome, and nothing else.
test_a_referring_charity_is_told_the_outcome if {
	decision := _decide_for(_with(_sample("MASH_DECISION"), {"detail": {"referring_organisations": ["VCS-SYN001"]}}), _all_subscribers)["vcs-safeguarding-lead"]
	decision.outcome == "PARTIAL"
	"detail.outcome" in decision.permitted_fields
	not "detail.rationale" in decision.permitted_fields
	not "detail.rag" in decision.permitted_fields
}

# R10: a contact point on anything but a MASH notice names its source: never to a charity.
test_a_charity_never_gets_the_senders_contact_point if {
	decision := _decide_for(_sample("SAFEGUARDING_CONTACT"), _all_subscribers)["vcs-mash-partner"]
	not "contact_point" in decision.permitted_fields
}
