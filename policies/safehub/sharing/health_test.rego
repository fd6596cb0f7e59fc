package safehub.sharing_test

_sexual_health := _with(_sample("HEALTH_SAFEGUARDING_ALERT"), {"detail": {
	"setting": "SEXUAL_HEALTH",
	"unscheduled_care": false,
	"cpis_flag": null,
}})

_clinical := {"detail.clinical_detail", "detail.snomed_codes", "narrative.full_account", "narrative.sensitivity"}

_health_hold := "health hold information about this child that only the MASH health navigator may see; contact the health safeguarding team"

# A CP-IS access notification: the CP-IS lookup service says unscheduled care looked the
# child up (R13).
_cpis_access := _notice("HEALTH_SAFEGUARDING_ALERT", "CPIS", "OFFICIAL_SENSITIVE")

_cpis_la := {
	"notice_id", "notice_type", "created_at", "source.agency", "source.organisation_code",
	"subject.linkage_key", "subject.nhs_number", "subject.la_child_id", "subject.upn",
	"subject.given_name", "subject.family_name", "subject.date_of_birth", "detail.setting",
	"detail.seen_at", "detail.unscheduled_care", "detail.cpis_flag", "contact_point",
}

# Nothing a recipient reads may name the sensitive service (or the rule that protects it).
_names_no_service(decision) if {
	not "detail.setting" in decision.permitted_fields
	every word in ["SEXUAL", "TERMINATION", "SARC", "R4", "sexual", "termination"] {
		not contains(decision.explanation, word)
		not word in decision.rule_ids
	}
}

# R4: a sexual health attendance stays with the health navigator; the flag and the refusal
# say only that health hold information.
test_sexual_health_attendance_stays_with_the_navigator if {
	decisions := _decide_for(_sexual_health, _all_subscribers)
	decisions["mash-health-navigator"].outcome == "PERMIT"
	_fields(decisions["mash-health-navigator"]) == _sample_paths("HEALTH_SAFEGUARDING_ALERT") - {"detail.cpis_flag"}
	decisions["mash-manager"].explanation == concat("", [
		"Withheld because ", _health_hold, "; ",
		"only a flag that health hold information about this child is shared, with whom to contact.",
	])
	every sid in ["mash-manager", "mash-police-researcher"] {
		decisions[sid].outcome == "FLAG_ONLY"
		_fields(decisions[sid]) == _generic_flag
		decisions[sid].rule_ids == ["R15", "R3"]
		decisions[sid].isa_clause == "ISA-4.2"
	}
	every sid in ["responsible-la", "school-dsl", "unscheduled-care", "emergency-duty-team", "health-safeguarding-team", "police-safeguarding-team", "cpis-register", "placing-la"] {
		decisions[sid].outcome == "DENY"
		decisions[sid].rule_ids == ["R15", "R3"]
		decisions[sid].explanation == concat("", ["Withheld because ", _health_hold, "."])
	}
	every sid in ["return-interview-provider", "early-help-charity", "vcs-mash-partner"] {
		decisions[sid].outcome == "DENY"
		"R10" in decisions[sid].rule_ids
	}
	every sid, decision in decisions {
		_names_no_service_unless_holder(sid, decision)
	}
}

_names_no_service_unless_holder("mash-health-navigator", _)

_names_no_service_unless_holder(sid, decision) if {
	sid != "mash-health-navigator"
	_names_no_service(decision)
}

test_termination_and_sarc_are_sensitive_too if {
	every setting in ["TERMINATION", "SARC"] {
		notice := _with(_sexual_health, {"detail": {"setting": setting}})
		decisions := _decide(notice)
		decisions["mash-manager"].outcome == "FLAG_ONLY"
		_names_no_service(decisions["mash-manager"])
		_names_no_service(decisions["responsible-la"])
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
	researcher := decisions["mash-police-researcher"]
	researcher.outcome == "FLAG_ONLY"
	_fields(researcher) == _generic_flag
	researcher.rule_ids == ["R15", "R3"]
	_names_no_service(researcher)
	decisions["responsible-la"].outcome == "DENY"
	_names_no_service(decisions["responsible-la"])
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

# Art 9(2)(h) covers health and social care purposes, never a disclosure to police; where
# consent was given, the consent; otherwise para 18 (safeguarding without consent).
test_health_sources_cite_article_9_2_h_except_to_police if {
	decisions := _decide(_sample("HEALTH_SAFEGUARDING_ALERT"))
	basis := decisions["mash-manager"].lawful_basis
	basis.special_category_condition == "UK GDPR Art 9(2)(h) health or social care, with DPA 2018 Sch 1 para 2"
	basis.dpa_part3 == null
	basis.statutory_gateway == "Children Act 2004 s10 and s11"
	police := decisions["mash-police-researcher"].lawful_basis
	police.special_category_condition == "UK GDPR Art 9(2)(g) substantial public interest, with DPA 2018 Sch 1 para 18 (safeguarding of children and individuals at risk)"
	police.recipient_basis == "DPA 2018 Part 3 s35(5) and Sch 8 para 4 (the police's own law-enforcement processing after receipt)"
	given := _with(_sample("HEALTH_SAFEGUARDING_ALERT"), {"consent": {"status": "GIVEN", "reason_not_sought": null}})
	_decide(given)["mash-police-researcher"].lawful_basis.special_category_condition == "UK GDPR Art 9(2)(a) explicit consent"
	_decide(given)["mash-manager"].lawful_basis.special_category_condition == "UK GDPR Art 9(2)(h) health or social care, with DPA 2018 Sch 1 para 2"
}

test_consent_given_cites_consent_not_para_18 if {
	notice := _with(_notice("SAFEGUARDING_CONTACT", "CHILDRENS_SERVICES", "OFFICIAL"), {"consent": {"status": "GIVEN", "reason_not_sought": null}})
	_decide(notice)["mash-manager"].lawful_basis.special_category_condition == "UK GDPR Art 9(2)(a) explicit consent"
	without := _notice("SAFEGUARDING_CONTACT", "CHILDRENS_SERVICES", "OFFICIAL")
	_decide(without)["mash-manager"].lawful_basis.special_category_condition == "UK GDPR Art 9(2)(g) substantial public interest, with DPA 2018 Sch 1 para 18 (safeguarding of children and individuals at risk)"
}

# A lawful basis that names its own Art 9 condition cites that one.
test_a_basis_with_its_own_special_category_condition_cites_it if {
	decision := _decide(_sample("HEALTH_SAFEGUARDING_ALERT"))["mash-manager"] with data.safehub.isa.lawful_bases.safeguarding_triage.special_category_condition as "Own condition"
	decision.lawful_basis.special_category_condition == "Own condition"
}

# R13: every unscheduled care access to a CP-IS plan notifies the local authority that owns
# the plan, with who, where, when and which plan; it is not MASH triage material.
test_every_unscheduled_care_access_notifies_the_local_authority if {
	decisions := _decide_for(_cpis_access, _all_subscribers)
	la := decisions["responsible-la"]
	la.outcome == "PARTIAL"
	_fields(la) == _cpis_la
	la.purpose == "CHILD_PROTECTION_ENQUIRY"
	la.isa_clause == "ISA-5.6"
	la.rule_ids == ["R13", "R14", "R15", "R2", "R3"]
	la.lawful_basis.article6 == "UK GDPR Art 6(1)(e) public task"
	la.lawful_basis.special_category_condition == "UK GDPR Art 9(2)(h) health or social care, with DPA 2018 Sch 1 para 2"
	startswith(la.explanation, "Shared because unscheduled care looked up this child's CP-IS plan, and every such access notifies the local authority that owns the plan (R13); ")
	decisions["mash-manager"].explanation == "Withheld because no sharing rule gives the MASH manager a need to know about health safeguarding alert notices."
	every sid, decision in decisions {
		_only_the_plan_owner(sid, decision)
	}
}

_only_the_plan_owner("responsible-la", _)

_only_the_plan_owner(sid, decision) if {
	sid != "responsible-la"
	decision.outcome == "DENY"
}

# Nothing is broadcast: an NHS trust's alert about a child seen in unscheduled care goes to
# MASH triage, not to the local authority; and an access without a plan flag or outside
# unscheduled care notifies nobody.
test_only_the_cpis_lookup_service_notifies_the_local_authority if {
	_decide(_sample("HEALTH_SAFEGUARDING_ALERT"))["responsible-la"].outcome == "DENY"
	every patch in [{"cpis_flag": null}, {"unscheduled_care": false}] {
		decisions := _decide(_with(_cpis_access, {"detail": patch}))
		decisions["responsible-la"].outcome == "DENY"
		decisions["responsible-la"].rule_ids == ["R15"]
	}
}

test_an_access_notifies_only_the_authority_that_owns_the_plan if {
	notice := _with(_cpis_access, {"subject": {"responsible_la": "LA-E09000001", "looked_after": true, "placing_la": "LA-E09000099"}})
	decisions := _decide_for(notice, _all_subscribers)
	decisions["placing-la"].outcome == "PARTIAL"
	decisions["responsible-la"].outcome == "DENY"
}

# R13: unscheduled care looks CP-IS up when the child presents; nothing is sent to it.
test_nothing_is_broadcast_to_unscheduled_care if {
	every notice in [_cpis_access, _sample("HEALTH_SAFEGUARDING_ALERT"), _sample("CSC_STATUS_CHANGE")] {
		decision := _decide_for(notice, _all_subscribers)["unscheduled-care"]
		decision.outcome == "DENY"
		decision.rule_ids == ["R13", "R15"]
		decision.explanation == "Withheld because unscheduled care looks up a child's CP-IS plan when the child presents; nothing is sent to unscheduled care in advance (R13)."
	}
}

test_unscheduled_care_gets_nothing_else if {
	decisions := _decide_for(_sample("SAFEGUARDING_CONTACT"), _all_subscribers)
	decisions["unscheduled-care"].outcome == "DENY"
}

# R13: the CP-IS register that unscheduled care looks up is kept current by the status
# changes that start or end a plan or looked-after status.
test_plan_and_looked_after_changes_keep_the_cpis_register_current if {
	register := {
		"notice_id", "notice_type", "created_at", "subject.linkage_key", "subject.nhs_number",
		"subject.responsible_la", "detail.change", "detail.effective_date", "detail.cp_category",
		"contact_point",
	}
	every change in ["CP_PLAN_STARTED", "CP_PLAN_ENDED", "LOOKED_AFTER_STARTED", "LOOKED_AFTER_ENDED"] {
		decision := _decide(_with(_sample("CSC_STATUS_CHANGE"), {"detail": {"change": change}}))["cpis-register"]
		decision.outcome == "PARTIAL"
		_fields(decision) == register
		decision.purpose == "UNSCHEDULED_CARE"
		decision.isa_clause == "ISA-5.6"
		"R13" in decision.rule_ids
		endswith(decision.explanation, "because the CP-IS register holds only the NHS number, plan type, dates and the responsible local authority (R13).")
	}
	other := _decide(_with(_sample("CSC_STATUS_CHANGE"), {"detail": {"change": "ALLOCATED_WORKER_CHANGED"}}))["cpis-register"]
	other.outcome == "DENY"
}

# The register is matched by organisation: a CP-IS register role elsewhere gets nothing.
test_only_the_hubs_cpis_register_is_kept_current if {
	subscribers := {"elsewhere": _test_subscriber("HEALTH", "CPIS-ELSEWHERE", "CPIS_REGISTER", false, ["UNSCHEDULED_CARE"])}
	_decide_for(_sample("CSC_STATUS_CHANGE"), subscribers).elsewhere.outcome == "DENY"
}

# A sensitive attendance that also carries handling C: the generic flag wins, so the contact
# point (which names the service) is never on the flag.
test_a_second_veto_never_widens_the_generic_health_flag if {
	notice := _with(_sample("HEALTH_SAFEGUARDING_ALERT"), {
		"detail": {"setting": "SEXUAL_HEALTH"},
		"intelligence_grading": {"scheme": "GRADING_3X5X2", "source_evaluation": "1", "intelligence_assessment": "A", "handling_code": "C"},
	})
	decision := _decide(notice)["mash-manager"]
	decision.outcome == "FLAG_ONLY"
	not "contact_point" in decision.permitted_fields
	"notice_id" in decision.permitted_fields
}
