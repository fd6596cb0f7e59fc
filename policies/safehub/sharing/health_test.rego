package safehub.sharing_test

_sexual_health := _with(_sample("HEALTH_SAFEGUARDING_ALERT"), {"detail": {
	"setting": "SEXUAL_HEALTH",
	"unscheduled_care": false,
	"cpis_flag": null,
}})

_clinical := {"detail.clinical_detail", "detail.snomed_codes", "narrative.full_account", "narrative.sensitivity"}

# R4: a sexual health attendance stays with the health navigator.
test_sexual_health_attendance_stays_with_the_navigator if {
	decisions := _decide_for(_sexual_health, _all_subscribers)
	decisions["mash-health-navigator"].outcome == "PERMIT"
	_fields(decisions["mash-health-navigator"]) == _sample_paths("HEALTH_SAFEGUARDING_ALERT") - {"detail.cpis_flag"}
	decisions["mash-manager"].explanation == concat("", [
		"Withheld because attendance at a sexual health, termination or SARC service stays with the MASH health navigator ",
		"unless a named or designated professional releases it for a child protection decision (R4); ",
		"only a flag that health services hold sensitive information about this child is shared, with whom to contact.",
	])
	every sid in ["mash-manager", "mash-police-researcher"] {
		decisions[sid].outcome == "FLAG_ONLY"
		_fields(decisions[sid]) == _flag
		decisions[sid].rule_ids == ["R15", "R4"]
		decisions[sid].isa_clause == "ISA-4.2"
	}
	every sid in ["responsible-la", "return-interview-provider", "school-dsl", "unscheduled-care", "early-help-charity"] {
		decisions[sid].outcome == "DENY"
		"R4" in decisions[sid].rule_ids
	}
}

test_termination_and_sarc_are_sensitive_too if {
	every setting in ["TERMINATION", "SARC"] {
		notice := _with(_sexual_health, {"detail": {"setting": setting}})
		_decide(notice)["mash-manager"].outcome == "FLAG_ONLY"
	}
}

test_released_attendance_goes_to_the_manager_only if {
	notice := _with(_sexual_health, {"detail": {"released_for_cp_decision": true}})
	decisions := _decide(notice)
	manager := decisions["mash-manager"]
	manager.outcome == "PARTIAL"
	_fields(manager) == (_sample_paths("HEALTH_SAFEGUARDING_ALERT") - {"detail.cpis_flag"}) - _clinical
	manager.rule_ids == ["R1", "R15", "R2", "R3", "R4"]
	manager.purpose == "CHILD_PROTECTION_ENQUIRY"
	manager.isa_clause == "ISA-4.2"
	startswith(manager.explanation, "Shared because a named or designated professional released this sexual health")
	decisions["mash-police-researcher"].outcome == "FLAG_ONLY"
	startswith(decisions["mash-police-researcher"].explanation, "Withheld because this sexual health, termination or SARC attendance was released for a child protection decision to the MASH manager only (R4)")
	decisions["responsible-la"].outcome == "DENY"
}

# R3: clinical detail only to the navigator; the manager gets the navigator's risk summary.
test_clinical_detail_only_to_the_navigator if {
	decision := _decide(_sample("HEALTH_SAFEGUARDING_ALERT"))["mash-manager"]
	decision.outcome == "PARTIAL"
	"detail.navigator_risk_summary" in decision.permitted_fields
	_fields(decision) == _sample_paths("HEALTH_SAFEGUARDING_ALERT") - _clinical
	decision.explanation == concat("", [
		"Shared because any agency may tell the MASH about a child at risk, with or without consent (R1), ",
		"and MASH decision makers see the full content during triage (R2); withheld the clinical detail, ",
		"the SNOMED CT codes, the full account and the account's sensitivity marking because NHS clinical detail ",
		"goes only to the MASH health navigator, whose risk summary is shared instead (R3).",
	])
}

test_an_account_marked_clinical_is_clinical_whoever_sends_it if {
	notice := _with(_sample("SAFEGUARDING_CONTACT"), {"narrative": {"sensitivity": "CLINICAL"}})
	decisions := _decide(notice)
	decisions["mash-manager"].outcome == "PARTIAL"
	_fields(decisions["mash-manager"]) == _sample_paths("SAFEGUARDING_CONTACT") - {"narrative.full_account", "narrative.sensitivity"}
	"R3" in decisions["mash-manager"].rule_ids
	decisions["mash-health-navigator"].outcome == "PARTIAL"
}

test_health_sources_cite_article_9_2_h if {
	basis := _decide(_sample("HEALTH_SAFEGUARDING_ALERT"))["mash-manager"].lawful_basis
	basis.special_category_condition == "UK GDPR Art 9(2)(h) health or social care, with DPA 2018 Sch 1 para 2"
	basis.dpa_part3 == null
	basis.statutory_gateway == "Children Act 2004 s10 and s11"
}

# R13: unscheduled care sees the CP-IS plan flag only; the local authority is notified.
test_unscheduled_care_sees_the_cpis_flag_only if {
	decision := _decide_for(_sample("HEALTH_SAFEGUARDING_ALERT"), _all_subscribers)["unscheduled-care"]
	decision.outcome == "PARTIAL"
	_fields(decision) == {
		"notice_id", "notice_type", "created_at", "subject.linkage_key",
		"subject.nhs_number", "detail.cpis_flag",
	}
	decision.purpose == "UNSCHEDULED_CARE"
	decision.isa_clause == "ISA-5.6"
	decision.rule_ids == ["R13", "R14", "R15", "R3"]
	decision.lawful_basis.special_category_condition == "UK GDPR Art 9(2)(h) health or social care, with DPA 2018 Sch 1 para 2"
	endswith(decision.explanation, "withheld everything else because unscheduled care sees only the CP-IS plan flag and the NHS number (R13).")
}

test_every_unscheduled_care_access_notifies_the_local_authority if {
	decision := _decide(_sample("HEALTH_SAFEGUARDING_ALERT"))["responsible-la"]
	decision.outcome == "PARTIAL"
	"detail.cpis_flag" in decision.permitted_fields
	not "detail.clinical_detail" in decision.permitted_fields
	not "detail.navigator_risk_summary" in decision.permitted_fields
	decision.rule_ids == ["R13", "R14", "R15", "R3"]
	decision.lawful_basis.article6 == "UK GDPR Art 6(1)(e) public task"
}

test_no_cpis_flag_or_not_unscheduled_care_means_nothing_for_unscheduled_care if {
	every patch in [{"cpis_flag": null}, {"unscheduled_care": false}] {
		decisions := _decide_for(_with(_sample("HEALTH_SAFEGUARDING_ALERT"), {"detail": patch}), _all_subscribers)
		decisions["unscheduled-care"].outcome == "DENY"
		decisions["unscheduled-care"].rule_ids == ["R13", "R15"]
		decisions["unscheduled-care"].explanation == "Withheld because unscheduled care is told only about a child with a CP-IS plan flag who is seen in unscheduled care (R13)."
		decisions["responsible-la"].outcome == "DENY"
		decisions["responsible-la"].rule_ids == ["R15", "R2"]
	}
}

test_unscheduled_care_gets_nothing_else if {
	decisions := _decide_for(_sample("SAFEGUARDING_CONTACT"), _all_subscribers)
	decisions["unscheduled-care"].outcome == "DENY"
}
