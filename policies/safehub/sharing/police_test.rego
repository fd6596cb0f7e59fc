package safehub.sharing_test

_intel_c := _graded(_sample("POLICE_INTELLIGENCE"), "GRADING_3X5X2", "C")

# R5: handling code C goes to police only; others in the MASH see a flag.
test_handling_code_c_goes_to_police_only_with_a_flag_inside_the_mash if {
	decisions := _decide(_intel_c)
	researcher := decisions["mash-police-researcher"]
	researcher.outcome == "PARTIAL"
	_fields(researcher) == _sample_paths("POLICE_INTELLIGENCE") - {"detail.source_details"}
	researcher.purpose == "POLICING_SAFEGUARDING"
	every sid in ["mash-manager", "mash-health-navigator"] {
		decisions[sid].outcome == "FLAG_ONLY"
		_fields(decisions[sid]) == _flag
		decisions[sid].rule_ids == ["R15", "R5"]
		decisions[sid].explanation == concat("", [
			"Withheld because police hold confidential information (handling code C) that only police staff in the MASH may see (R5); ",
			"only a flag that police hold confidential information about this child is shared, with whom to contact.",
		])
	}
	every sid in ["responsible-la", "return-interview-provider", "school-dsl"] {
		decisions[sid].outcome == "DENY"
		"R5" in decisions[sid].rule_ids
	}
}

test_handling_code_p_goes_to_decision_makers if {
	decisions := _decide(_sample("POLICE_INTELLIGENCE"))
	decisions["mash-manager"].outcome == "PARTIAL"
	decisions["mash-manager"].rule_ids == ["R1", "R15", "R2", "R5"]
	startswith(decisions["mash-manager"].explanation, "Shared because police intelligence with handling code P may go to MASH decision makers, to be handled as OFFICIAL-SENSITIVE (R5); withheld the source-identifying details because")
	decisions["mash-health-navigator"].outcome == "FLAG_ONLY"
	decisions["mash-health-navigator"].explanation == concat("", [
		"Withheld because police intelligence with handling code P goes only to MASH decision makers and police (R5); ",
		"only a flag that police hold intelligence about this child is shared, with whom to contact.",
	])
}

# R6: the legacy 5x5x5 mapping the IG officer owns.
test_legacy_handling_codes_are_mapped if {
	expected := {
		"1": ["PARTIAL", "FLAG_ONLY"],
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

# R5: source-identifying detail never leaves police, not even to the police researcher.
test_source_details_never_leave_police if {
	every decision in _decide(_sample("POLICE_INTELLIGENCE")) {
		not "detail.source_details" in decision.permitted_fields
	}
	researcher := _decide(_sample("POLICE_INTELLIGENCE"))["mash-police-researcher"]
	researcher.explanation == concat("", [
		"Shared because the police's own intelligence is available to police staff in the MASH (R5); ",
		"withheld the source-identifying details because source-identifying details never leave the police record system (R5).",
	])
}

test_an_account_marked_police_confidential_stays_with_police if {
	notice := _with(_sample("SAFEGUARDING_CONTACT"), {"narrative": {"sensitivity": "POLICE_CONFIDENTIAL"}})
	decisions := _decide(notice)
	not "narrative.full_account" in decisions["mash-manager"].permitted_fields
	contains(decisions["mash-manager"].explanation, "because the police marked the full account confidential to police (R5)")
	"narrative.full_account" in decisions["mash-police-researcher"].permitted_fields
}

test_police_sources_cite_dpa_part_3_and_s115 if {
	basis := _decide(_sample("SAFEGUARDING_CONTACT"))["mash-manager"].lawful_basis
	basis.dpa_part3 == "DPA 2018 Part 3 s35(5) and Sch 8 para 4 (safeguarding of children and individuals at risk)"
	basis.statutory_gateway == "Children Act 2004 s10 and s11; Crime and Disorder Act 1998 s115"
	basis.special_category_condition == "UK GDPR Art 9(2)(g) substantial public interest, with DPA 2018 Sch 1 para 18 (safeguarding of children and individuals at risk)"
}

test_police_recipients_cite_dpa_part_3 if {
	notice := _notice("SAFEGUARDING_CONTACT", "CHILDRENS_SERVICES", "OFFICIAL")
	decisions := _decide(notice)
	decisions["mash-police-researcher"].lawful_basis.dpa_part3 == data.safehub.isa.dpa_part3
	decisions["mash-manager"].lawful_basis.dpa_part3 == null
	decisions["mash-manager"].lawful_basis.statutory_gateway == "Children Act 2004 s10 and s11"
}
