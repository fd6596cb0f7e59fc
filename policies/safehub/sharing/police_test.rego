package safehub.sharing_test

_intel_c := _graded(_sample("POLICE_INTELLIGENCE"), "GRADING_3X5X2", "C")

# What may identify a source of intelligence: it never leaves police (R5).
_source_identifying := {"detail.source_details", "referrer", "third_parties", "narrative.full_account", "narrative.sensitivity"}

_caveat_note := "; handle as OFFICIAL-SENSITIVE whatever the sender marked (R5)"

# R5: handling code C goes to police only; others in the MASH see a flag.
test_handling_code_c_goes_to_police_only_with_a_flag_inside_the_mash if {
	decisions := _decide_for(_intel_c, _all_subscribers)
	researcher := decisions["mash-police-researcher"]
	researcher.outcome == "PARTIAL"
	_fields(researcher) == _sample_paths("POLICE_INTELLIGENCE") - {"detail.source_details"}
	researcher.purpose == "POLICING_SAFEGUARDING"
	every sid in ["mash-manager", "mash-health-navigator"] {
		decisions[sid].outcome == "FLAG_ONLY"
		_fields(decisions[sid]) == _flag
		decisions[sid].rule_ids == ["R15", "R5"]
		decisions[sid].handling_caveat == "OFFICIAL_SENSITIVE"
		decisions[sid].explanation == concat("", [
			"Withheld because police hold information that only police staff in the MASH may see (R5); ",
			"only a flag that police hold confidential information about this child is shared, with whom to contact.",
		])
	}
	every sid in ["responsible-la", "return-interview-provider", "school-dsl", "emergency-duty-team", "health-safeguarding-team", "cpis-register", "placing-la"] {
		decisions[sid].outcome == "DENY"
		"R5" in decisions[sid].rule_ids
	}
}

test_handling_code_p_goes_to_decision_makers if {
	decisions := _decide(_sample("POLICE_INTELLIGENCE"))
	manager := decisions["mash-manager"]
	manager.outcome == "PARTIAL"
	manager.rule_ids == ["R1", "R15", "R2", "R5"]
	manager.isa_clause == "ISA-4.3"

	# The source-identifying fields are withheld silently: naming them would point at a source.
	manager.explanation == concat("", [
		"Shared because police intelligence cleared for sharing (handling code P, or legacy code 2 with authorisation) ",
		"may go to MASH decision makers as its sanitised text, to be handled as OFFICIAL-SENSITIVE (R5, R6)",
		_caveat_note, ".",
	])
	decisions["mash-health-navigator"].outcome == "FLAG_ONLY"
	decisions["mash-health-navigator"].explanation == concat("", [
		"Withheld because police intelligence goes only to MASH decision makers and police (R5); ",
		"only a flag that police hold intelligence about this child is shared, with whom to contact.",
	])
}

# R5: the sanitised text only. The referrer, third parties and the unsanitised account stay
# with police, even for the MASH manager (R14 alone would leave them visible inside the MASH).
test_intelligence_to_non_police_loses_everything_that_could_identify_a_source if {
	decisions := _decide_for(_sample("POLICE_INTELLIGENCE"), _all_subscribers)
	manager := decisions["mash-manager"]
	_fields(manager) == _sample_paths("POLICE_INTELLIGENCE") - _source_identifying
	"detail.sanitised_text" in manager.permitted_fields
	not contains(manager.explanation, "withheld")
	researcher := decisions["mash-police-researcher"]
	every path in ["referrer", "third_parties", "narrative.full_account"] {
		path in researcher.permitted_fields
	}
	every decision in decisions {
		not "detail.source_details" in decision.permitted_fields
	}
}

# R5: the caveat travels with every disclosure of police intelligence, whatever the sender marked.
test_intelligence_is_handled_as_official_sensitive_whatever_the_sender_marked if {
	decisions := _decide(_notice("POLICE_INTELLIGENCE", "POLICE", "OFFICIAL"))
	every sid in ["mash-manager", "mash-police-researcher", "mash-health-navigator"] {
		decisions[sid].handling_caveat == "OFFICIAL_SENSITIVE"
	}
	every sid in ["mash-manager", "mash-police-researcher"] {
		contains(decisions[sid].explanation, _caveat_note)
	}
	other := _decide(_sample("SAFEGUARDING_CONTACT"))["mash-manager"]
	other.handling_caveat == null
	not contains(other.explanation, "OFFICIAL-SENSITIVE")
}

# R5: grade E (suspected to be false or malicious) stays with police, not even a flag.
test_grade_e_intelligence_stays_with_police if {
	notice := _with(_sample("POLICE_INTELLIGENCE"), {"intelligence_grading": {"intelligence_assessment": "E"}})
	decisions := _decide_for(notice, _all_subscribers)
	decisions["mash-police-researcher"].outcome == "PARTIAL"
	every sid in ["mash-manager", "mash-health-navigator"] {
		decisions[sid].outcome == "DENY"
		decisions[sid].permitted_fields == []
		decisions[sid].rule_ids == ["R15", "R5"]
		decisions[sid].isa_clause == "ISA-4.3"
		decisions[sid].explanation == "Withheld because intelligence graded E (suspected to be false or malicious) is not shared outside police without review (R5)."
	}
	every sid, decision in decisions {
		_police_or_denied(_all_subscribers[sid], decision)
	}
}

_police_or_denied(sub, _) if sub.agency == "POLICE"

_police_or_denied(sub, decision) if {
	sub.agency != "POLICE"
	decision.outcome == "DENY"
	decision.permitted_fields == []
}

# R6: the legacy 5x5x5 mapping the IG officer owns: 1 and 3 law enforcement only (a flag for
# others in the MASH), 2 only with a recorded authorisation (otherwise as 1), 4 and 5 police only.
test_legacy_handling_codes_are_mapped if {
	expected := {
		"1": ["FLAG_ONLY", "FLAG_ONLY"],
		"2": ["FLAG_ONLY", "FLAG_ONLY"],
		"3": ["FLAG_ONLY", "FLAG_ONLY"],
		"4": ["DENY", "DENY"],
		"5": ["DENY", "DENY"],
	}
	every code, outcomes in expected {
		decisions := _decide(_graded(_sample("POLICE_INTELLIGENCE"), "LEGACY_5X5X5", code))
		[decisions["mash-manager"].outcome, decisions["mash-health-navigator"].outcome] == outcomes
		decisions["mash-police-researcher"].outcome == "PARTIAL"
		"R6" in decisions["mash-manager"].rule_ids
		"R6" in decisions["mash-police-researcher"].rule_ids
		decisions["responsible-la"].outcome == "DENY"
	}
}

test_legacy_codes_1_and_3_are_law_enforcement_only if {
	every code in ["1", "3"] {
		decision := _decide(_graded(_sample("POLICE_INTELLIGENCE"), "LEGACY_5X5X5", code))["mash-manager"]
		decision.outcome == "FLAG_ONLY"
		decision.rule_ids == ["R15", "R5", "R6"]
		startswith(decision.explanation, "Withheld because police hold information that only police staff in the MASH may see (R5)")
	}
}

# R6: legacy code 2 may go to MASH decision makers as P, with the authorisation recorded.
test_legacy_code_2_with_an_authorisation_goes_to_decision_makers if {
	graded := _graded(_sample("POLICE_INTELLIGENCE"), "LEGACY_5X5X5", "2")
	notice := _with(graded, {"intelligence_grading": {"dissemination_authorisation": "AUTH-2026-0042"}})
	decisions := _decide(notice)
	manager := decisions["mash-manager"]
	manager.outcome == "PARTIAL"
	_fields(manager) == _sample_paths("POLICE_INTELLIGENCE") - _source_identifying
	manager.rule_ids == ["R1", "R15", "R2", "R5", "R6"]
	manager.handling_caveat == "OFFICIAL_SENSITIVE"
	endswith(manager.explanation, concat("", [
		"(R5, R6)", _caveat_note,
		"; legacy handling code 2: dissemination authorisation AUTH-2026-0042 is recorded with this disclosure (R6).",
	]))
	decisions["mash-health-navigator"].outcome == "FLAG_ONLY"
	decisions["responsible-la"].outcome == "DENY"

	# An empty authorisation is no authorisation.
	blank := _with(graded, {"intelligence_grading": {"dissemination_authorisation": ""}})
	_decide(blank)["mash-manager"].outcome == "FLAG_ONLY"
}

test_legacy_code_4_is_police_only if {
	decision := _decide(_graded(_sample("POLICE_INTELLIGENCE"), "LEGACY_5X5X5", "4"))["mash-manager"]
	decision.explanation == "Withheld because the police handling code restricts this record to police (R6)."
	decision.rule_ids == ["R15", "R5", "R6"]
}

test_unrecognised_or_missing_handling_stays_with_police if {
	notices := [
		_graded(_sample("POLICE_INTELLIGENCE"), "GRADING_3X5X2", "X"),
		_graded(_sample("POLICE_INTELLIGENCE"), "NEW_SCHEME", "P"),
		_with(_sample("POLICE_INTELLIGENCE"), {"intelligence_grading": null}),
	]
	every notice in notices {
		decisions := _decide(notice)
		decisions["mash-manager"].outcome == "DENY"
		decisions["mash-manager"].explanation == "Withheld because the police handling code is missing or not one the sharing rules recognise, so the record stays with police (R5, R6)."
		decisions["mash-health-navigator"].outcome == "DENY"
		decisions["mash-police-researcher"].outcome == "PARTIAL"
	}
}

# The handling code governs any notice that carries a grading.
test_handling_code_c_on_a_domestic_abuse_notice if {
	decisions := _decide(_graded(_sample("DOMESTIC_ABUSE_INCIDENT"), "GRADING_3X5X2", "C"))
	decisions["mash-manager"].outcome == "FLAG_ONLY"
	decisions["mash-police-researcher"].outcome == "PERMIT"
	decisions["school-dsl"].outcome == "DENY"
	decisions["school-dsl"].rule_ids == ["R15", "R5"]
}

test_intelligence_grading_only_to_decision_makers_and_police if {
	decisions := _decide(_graded(_sample("DOMESTIC_ABUSE_INCIDENT"), "GRADING_3X5X2", "P"))
	"intelligence_grading" in decisions["mash-manager"].permitted_fields
	"intelligence_grading" in decisions["mash-police-researcher"].permitted_fields
	not "intelligence_grading" in decisions["mash-health-navigator"].permitted_fields
	contains(decisions["mash-health-navigator"].explanation, "withheld the intelligence grading because police intelligence grading goes only to MASH decision makers and police (R5)")
	decisions["school-dsl"].outcome == "PARTIAL"
	not "intelligence_grading" in decisions["school-dsl"].permitted_fields
}

# R5: source-identifying detail never leaves police, not even to the police researcher, and
# no explanation says so.
test_source_details_never_leave_police if {
	every decision in _decide_for(_sample("POLICE_INTELLIGENCE"), _all_subscribers) {
		not "detail.source_details" in decision.permitted_fields
		not contains(decision.explanation, "source-identifying")
	}
	researcher := _decide(_sample("POLICE_INTELLIGENCE"))["mash-police-researcher"]
	researcher.outcome == "PARTIAL"
	researcher.explanation == concat("", [
		"Shared because the police's own intelligence is available to police staff in the MASH (R5)",
		_caveat_note, ".",
	])
}

test_an_account_marked_police_confidential_stays_with_police if {
	notice := _with(_sample("SAFEGUARDING_CONTACT"), {"narrative": {"sensitivity": "POLICE_CONFIDENTIAL"}})
	decisions := _decide(notice)
	not "narrative.full_account" in decisions["mash-manager"].permitted_fields
	contains(decisions["mash-manager"].explanation, "withheld the full account and the account's sensitivity marking because the full account is marked confidential to police (R5)")
	not contains(decisions["mash-manager"].explanation, "police marked")
	"narrative.full_account" in decisions["mash-police-researcher"].permitted_fields
}

# The discloser's basis: DPA 2018 Part 3 only when police send; s115 to relevant authorities.
test_police_sources_cite_dpa_part_3_and_s115 if {
	basis := _decide(_sample("SAFEGUARDING_CONTACT"))["mash-manager"].lawful_basis
	basis == {
		"article6": "UK GDPR Art 6(1)(e) public task",
		"special_category_condition": "UK GDPR Art 9(2)(g) substantial public interest, with DPA 2018 Sch 1 para 18 (safeguarding of children and individuals at risk)",
		"criminal_offence_condition": null,
		"dpa_part3": "DPA 2018 Part 3 s35(5) and Sch 8 para 4 (the police's law-enforcement processing, as discloser)",
		"statutory_gateway": "Children Act 2004 s10 and s11; Crime and Disorder Act 1998 s115",
		"recipient_basis": "UK GDPR Art 6(1)(e) public task",
	}
}

# Police receiving is the recipient's basis (Part 3), not the discloser's.
test_police_recipients_cite_dpa_part_3_as_their_own_basis if {
	notice := _notice("SAFEGUARDING_CONTACT", "CHILDRENS_SERVICES", "OFFICIAL")
	decisions := _decide(notice)
	researcher := decisions["mash-police-researcher"].lawful_basis
	researcher.dpa_part3 == null
	researcher.recipient_basis == "DPA 2018 Part 3 s35(5) and Sch 8 para 4 (the police's own law-enforcement processing after receipt)"
	researcher.statutory_gateway == "Children Act 2004 s10 and s11"
	decisions["mash-manager"].lawful_basis.dpa_part3 == null
	decisions["mash-manager"].lawful_basis.recipient_basis == "UK GDPR Art 6(1)(e) public task"
	decisions["mash-manager"].lawful_basis.statutory_gateway == "Children Act 2004 s10 and s11"
}

# Art 10: domestic abuse incidents, intelligence and trafficking referrals are criminal offence data.
test_criminal_offence_data_cites_article_10 if {
	condition := "UK GDPR Art 10 with DPA 2018 s10(5) and Sch 1 para 18 (safeguarding of children and individuals at risk)"
	every type in ["DOMESTIC_ABUSE_INCIDENT", "POLICE_INTELLIGENCE", "TRAFFICKING_NRM"] {
		_decide(_sample(type))["mash-manager"].lawful_basis.criminal_offence_condition == condition
	}
	nrm_update := _with(_sample("VCS_UPDATE"), {"detail": {"kind": "NRM_REFERRAL"}})
	_decide(nrm_update)["mash-manager"].lawful_basis.criminal_offence_condition == condition
	every type in ["SAFEGUARDING_CONTACT", "MISSING_EPISODE", "VCS_UPDATE"] {
		_decide(_sample(type))["mash-manager"].lawful_basis.criminal_offence_condition == null
	}
}

# s115 is a power to disclose to relevant authorities only: not to schools or charities.
test_s115_only_to_relevant_authorities if {
	missing := _decide(_sample("MISSING_EPISODE"))
	missing["responsible-la"].lawful_basis.statutory_gateway == "Children Act 2004 s11; Children Act 1989 s17; Crime and Disorder Act 1998 s115"
	missing["mash-health-navigator"].lawful_basis.statutory_gateway == "Children Act 2004 s10 and s11; Crime and Disorder Act 1998 s115"
	missing["return-interview-provider"].lawful_basis.statutory_gateway == "Children Act 2004 s10 and s11"
	school := _decide(_sample("DOMESTIC_ABUSE_INCIDENT"))["school-dsl"].lawful_basis.statutory_gateway
	not contains(school, "s115")
}

# A decision that discloses nothing cites no basis.
test_deny_cites_no_disclosure_basis if {
	decisions := _decide(_graded(_sample("POLICE_INTELLIGENCE"), "LEGACY_5X5X5", "5"))
	decisions["mash-manager"].lawful_basis == data.safehub.isa.no_disclosure
	decisions["responsible-la"].lawful_basis == data.safehub.isa.no_disclosure
}

# The note belongs to police intelligence alone.
test_only_intelligence_carries_the_intelligence_note if {
	data.safehub.sharing._intelligence_note(_sample("SAFEGUARDING_CONTACT")) == ""
	startswith(data.safehub.sharing._intelligence_note(_sample("POLICE_INTELLIGENCE")), _caveat_note)
}

# R5: the copy is OFFICIAL-SENSITIVE whatever the sender marked, so a recipient approved only
# for OFFICIAL gets nothing, even when the sender marked the intelligence OFFICIAL.
test_intelligence_goes_only_to_recipients_cleared_for_official_sensitive if {
	manager := object.union(data.safehub.subscribers["mash-manager"], {"classifications": ["OFFICIAL"]})
	subscribers := object.union(data.safehub.subscribers, {"mash-manager": manager})
	notice := _with(_sample("POLICE_INTELLIGENCE"), {"classification": "OFFICIAL"})
	decision := _decide_for(notice, subscribers)["mash-manager"]
	decision.outcome == "DENY"
	_decide_for(notice, data.safehub.subscribers)["mash-manager"].outcome == "PARTIAL"
}
