# Test fixtures shared by the *_test.rego files of package safehub.sharing_test: one sample
# notice per type with every optional field filled, the field paths each sample holds
# (written out by hand, independently of the policy), and test-only subscribers.
package safehub.sharing_test

_orgs := {
	"POLICE": "POL-XX01",
	"HEALTH": "NHS-RXX00",
	"CHILDRENS_SERVICES": "LA-E09000099",
	"VOLUNTARY_SECTOR": "VCS-SYN001",
	"MASH": "MASH-E09000099",
	"CPIS": "CPIS-REGISTER",
}

_common := {
	"notice_id": "6f1d3c2e-0000-5000-8000-000000000001",
	"source": {
		"agency": "POLICE", "organisation_code": "POL-XX01",
		"source_reference": "SYN-0001", "source_system": "synthetic",
	},
	"created_at": "2026-11-20T10:00:00.000+00:00",
	"subject": {
		"linkage_key": "5afe0001", "nhs_number": "9990000018", "la_child_id": "LAC000001",
		"upn": "A123456789012", "given_name": "Avery", "family_name": "Ashdown",
		"date_of_birth": "2015-03-01", "age_years": 11, "postcode_district": "ZZ1",
		"looked_after": false, "responsible_la": "LA-E09000099", "placing_la": null,
		"exploitation_flagged": false,
	},
	"concerns": [{"code": "NEGLECT", "census_factor": null}],
	"risk": {"level": "MEDIUM", "immediate_danger": false},
	"narrative": {
		"summary": "Synthetic summary.", "full_account": "Synthetic full account.",
		"sensitivity": "SENSITIVE",
	},
	"classification": "OFFICIAL_SENSITIVE",
	"intelligence_grading": null,
	"consent": {"status": "NOT_SOUGHT", "reason_not_sought": "Seeking consent could increase risk."},
	"family_informed": {"informed": false, "reason_not_informed": "Risk of harm."},
	"referrer": {"role": "neighbour", "name": "Synthetic Referrer", "organisation": null, "contact": "07700 900000"},
	"third_parties": [{"role": "mother", "name": "Synthetic Parent", "organisation": null, "contact": null}],
	"contact_point": {"role": "Safeguarding desk", "organisation": "POL-XX01", "telephone": "0300 000 0100"},
}

# The paths _common holds (subject.placing_la and intelligence_grading are null).
_common_paths := {
	"notice_id", "notice_type", "created_at", "classification",
	"source.agency", "source.organisation_code", "source.source_reference", "source.source_system",
	"subject.linkage_key", "subject.nhs_number", "subject.la_child_id", "subject.upn",
	"subject.given_name", "subject.family_name", "subject.date_of_birth", "subject.age_years",
	"subject.postcode_district", "subject.looked_after", "subject.responsible_la",
	"subject.exploitation_flagged",
	"concerns", "risk.level", "risk.immediate_danger",
	"narrative.summary", "narrative.full_account", "narrative.sensitivity",
	"consent.status", "consent.reason_not_sought", "family_informed.informed",
	"family_informed.reason_not_informed", "referrer", "third_parties", "contact_point",
}

_details := {
	"SAFEGUARDING_CONTACT": {"reason": "Seen out late.", "children_in_household": 2},
	"DOMESTIC_ABUSE_INCIDENT": {
		"incident_at": "2026-11-19T22:00:00.000+00:00", "dash_risk": "HIGH",
		"children_present": true, "marac_referral": true, "school_urn": "URN-999999",
		"children_normally_resident": true,
	},
	"MISSING_EPISODE": {
		"status": "RETURNED", "risk_grade": "MEDIUM", "ssda903_code": "M",
		"started_at": "2026-11-19T08:00:00.000+00:00", "ended_at": "2026-11-19T17:00:00.000+00:00",
		"return_interview_due_at": "2026-11-22T17:00:00.000+00:00",
		"carer_contact": "0300 000 0200", "episodes_last_90_days": 3,
	},
	"EXPLOITATION_CONCERN": {"exploitation_types": ["CRIMINAL"], "indicators": ["new phone"]},
	"TRAFFICKING_NRM": {
		"exploitation_type": "CRIMINAL", "first_responder_organisation": "Synthetic Children's Charity",
		"referred_at": "2026-11-19T12:00:00.000+00:00", "exploitation_account": "Synthetic account.",
	},
	"HEALTH_SAFEGUARDING_ALERT": {
		"setting": "ED", "seen_at": "2026-11-19T23:00:00.000+00:00",
		"snomed_codes": ["1064311000000109"], "clinical_detail": "Synthetic clinical detail.",
		"navigator_risk_summary": "Synthetic risk summary.",
		"cpis_flag": {
			"plan_type": "CHILD_PROTECTION_PLAN", "plan_start": "2026-01-01", "plan_end": null,
			"responsible_la_contact": "0300 000 0004",
		},
		"released_for_cp_decision": false, "unscheduled_care": true,
	},
	"CSC_STATUS_CHANGE": {
		"change": "CP_PLAN_STARTED", "effective_date": "2026-11-18", "cp_category": "NEG",
		"legal_status": null, "primary_need": "N1", "assessment_factors": ["10A"],
		"allocated_worker": {"role": "Social worker", "organisation": "LA-E09000099", "telephone": "0300 000 0300"},
		"referral_source": "1B", "period_start_date": null,
	},
	"POLICE_INTELLIGENCE": {"sanitised_text": "Synthetic intelligence.", "source_details": "Synthetic source."},
	"MASH_DECISION": {
		"rag": "RED", "outcome": "S47_STRATEGY_DISCUSSION", "rationale": "Synthetic rationale.",
		"family_agreement": false, "decided_by_role": "MASH manager",
		"related_notice_ids": ["6f1d3c2e-0000-5000-8000-000000000009"],
		"agreed_actions": ["Strategy discussion today"],
		"referring_organisations": ["POL-XX01", "NHS-RXX00"],
		"early_help_organisation": "VCS-SYN002",
	},
	"VCS_UPDATE": {
		"kind": "ENGAGEMENT", "category_of_need": "Emotional wellbeing",
		"agreed_actions": ["Weekly mentoring"], "safety_instructions": "Do not visit alone.",
		"outcome_summary": "Engaged well.",
	},
}

_detail_paths := {
	"SAFEGUARDING_CONTACT": {"detail.reason", "detail.children_in_household"},
	"DOMESTIC_ABUSE_INCIDENT": {
		"detail.incident_at", "detail.dash_risk", "detail.children_present",
		"detail.marac_referral", "detail.school_urn", "detail.children_normally_resident",
	},
	"MISSING_EPISODE": {
		"detail.status", "detail.risk_grade", "detail.ssda903_code", "detail.started_at",
		"detail.ended_at", "detail.return_interview_due_at", "detail.carer_contact",
		"detail.episodes_last_90_days",
	},
	"EXPLOITATION_CONCERN": {"detail.exploitation_types", "detail.indicators"},
	"TRAFFICKING_NRM": {
		"detail.exploitation_type", "detail.first_responder_organisation",
		"detail.referred_at", "detail.exploitation_account",
	},
	"HEALTH_SAFEGUARDING_ALERT": {
		"detail.setting", "detail.seen_at", "detail.snomed_codes", "detail.clinical_detail",
		"detail.navigator_risk_summary", "detail.cpis_flag", "detail.released_for_cp_decision",
		"detail.unscheduled_care",
	},
	"CSC_STATUS_CHANGE": {
		"detail.change", "detail.effective_date", "detail.cp_category", "detail.primary_need",
		"detail.assessment_factors", "detail.allocated_worker", "detail.referral_source",
	},
	"POLICE_INTELLIGENCE": {"detail.sanitised_text", "detail.source_details"},
	"MASH_DECISION": {
		"detail.rag", "detail.outcome", "detail.rationale", "detail.family_agreement",
		"detail.decided_by_role", "detail.related_notice_ids", "detail.agreed_actions",
		"detail.referring_organisations", "detail.early_help_organisation",
	},
	"VCS_UPDATE": {
		"detail.kind", "detail.category_of_need", "detail.agreed_actions",
		"detail.safety_instructions", "detail.outcome_summary",
	},
}

_grading_p := {
	"scheme": "GRADING_3X5X2", "source_evaluation": "2",
	"intelligence_assessment": "B", "handling_code": "P",
}

# A sample notice of `type` from `agency`, with classification `classification`.
_notice(type, agency, classification) := object.union(_common, {
	"notice_type": type,
	"source": {"agency": agency, "organisation_code": _orgs[agency]},
	"classification": classification,
	"intelligence_grading": _grading_for(type),
	"contact_point": {"organisation": _orgs[agency]},
	"detail": _details[type],
})

_grading_for(type) := _grading_p if type == "POLICE_INTELLIGENCE"

else := null

# The usual sample: the first authorised sender, OFFICIAL_SENSITIVE.
_sample(type) := _notice(type, data.safehub.isa.notice_types[type].senders[0], "OFFICIAL_SENSITIVE")

# The paths a sample notice holds.
_sample_paths(type) := (_common_paths | _detail_paths[type]) | {"intelligence_grading"} if {
	type == "POLICE_INTELLIGENCE"
} else := _common_paths | _detail_paths[type]

_decide(notice) := decisions if {
	decisions := data.safehub.sharing.decisions with input as {"notice": notice}
}

_decide_for(notice, subscribers) := decisions if {
	decisions := data.safehub.sharing.decisions with input as {"notice": notice}
		with data.safehub.subscribers as subscribers
}

_fields(decision) := {field | some field in decision.permitted_fields}

# The context of a child the hub knows nothing about, as the child index answers it
# (services/hubkit/child_context.py empty_context), and one with `patch` merged in.
_empty_context := {
	"child_key": "5afe0001", "keys": ["5afe0001"],
	"exploitation": {"flagged": false, "flagged_by": [], "types": []},
	"missing_episodes": [],
	"looked_after": null, "placing_la": null, "responsible_la": null,
	"cp_plan": null, "school_urn": null,
}

_context(patch) := object.union(_empty_context, patch)

# A missing episode of the context, reported by `agency`, that started at `started_at`.
_episode(agency, started_at, notice_id) := {
	"agency": agency, "status": "RETURNED", "risk_grade": "NO_APPARENT_RISK",
	"started_at": started_at, "notice_id": notice_id,
}

# Decided as the gateway asks: the notice with its child's context.
_decide_in(notice, context) := decisions if {
	decisions := data.safehub.sharing.decisions with input as {"notice": notice, "context": context}
}

_decide_for_in(notice, context, subscribers) := decisions if {
	decisions := data.safehub.sharing.decisions with input as {"notice": notice, "context": context}
		with data.safehub.subscribers as subscribers
}

_flag := {"notice_id", "notice_type", "created_at", "source.agency", "subject.linkage_key", "contact_point"}

# The flag that names no service and no contact (data.safehub.fields.groups.flag_generic).
_generic_flag := {"notice_id", "notice_type", "created_at", "source.agency", "subject.linkage_key"}

_both_classifications := ["OFFICIAL", "OFFICIAL_SENSITIVE"]

_test_subscriber(agency, organisation, role, inside, purposes) := {
	"agency": agency,
	"organisation": organisation,
	"role": role,
	"team": "TEST",
	"inside_mash": inside,
	"purposes": purposes,
	"classifications": _both_classifications,
	"contact": "Test subscriber, 0300 000 0999",
}

# Subscribers that do not exist yet, to exercise rules written for them. The early help
# charity is the organisation the sample MASH decision names (detail.early_help_organisation).
_extra_subscribers := {
	"unscheduled-care": _test_subscriber(
		"HEALTH", "NHS-RXX00", "UNSCHEDULED_CARE_CLINICIAN", false,
		["UNSCHEDULED_CARE"],
	),
	"early-help-charity": _test_subscriber(
		"VOLUNTARY_SECTOR", "VCS-SYN002", "EARLY_HELP_WORKER", false,
		["EARLY_HELP_SUPPORT"],
	),
	"placing-la": _test_subscriber(
		"CHILDRENS_SERVICES", "LA-E09000001", "SOCIAL_WORKER", false,
		["CHILD_PROTECTION_ENQUIRY", "LOOKED_AFTER_CARE"],
	),
	"vcs-mash-partner": _test_subscriber(
		"VOLUNTARY_SECTOR", "VCS-SYN003", "VCS_MASH_PARTNER", true,
		["SAFEGUARDING_TRIAGE"],
	),
	"other-rhi-provider": _test_subscriber(
		"VOLUNTARY_SECTOR", "VCS-SYN009", "RETURN_INTERVIEW_WORKER", false,
		["RETURN_HOME_INTERVIEW"],
	),
}

_all_subscribers := object.union(data.safehub.subscribers, _extra_subscribers)

_with(notice, patch) := object.union(notice, patch)

_graded(notice, scheme, code) := object.union(notice, {"intelligence_grading": {
	"scheme": scheme, "source_evaluation": "2",
	"intelligence_assessment": "B", "handling_code": code,
}})

# The sample notice said to be about a child in immediate danger, created at `at`.
_in_danger_at(notice, at) := object.union(notice, {
	"created_at": at,
	"risk": {"immediate_danger": true},
})

# Times (Europe/London) when the MASH is open and closed (data.safehub.rules.mash_hours).
_mash_open_at := "2026-11-20T10:00:00.000+00:00" # a Friday morning

_mash_closed_at := "2026-11-19T22:30:00.000+00:00" # a Thursday night
