package safehub.sharing_test

# The IG disclosure ceilings (policies/safehub/ceilings/data.json): whatever the sharing rules
# say, no recipient may receive more than its role's ceiling for the notice type. The ceiling
# is expanded here, independently of the policy's views: an entry {"allow": items, "never":
# paths} allows ALL (every field the schema defines for the type), DETAIL (the type's detail
# fields), a group of the ceiling file (its own allow less its own never), a field group of
# data.safehub.fields.groups, or a field path; then "never" and "never_anywhere" are taken
# away. A role or notice type the file does not list may receive nothing.

# --- the ceiling ----------------------------------------------------------------------------

# The ceilings data file. (Regal does not read data files; .regal/config.yaml lists the other
# data.json files under policies/safehub/ but not this one.)
# regal ignore:unresolved-reference
_ceilings := data.safehub.ceilings

_ceiling(role, type) := (_ceiling_items(entry.allow, type) - _paths(entry.never)) - _paths(_ceilings.never_anywhere) if {
	entry := _ceilings.roles[role][type]
} else := set()

_paths(list) := {path | some path in list}

_ceiling_items(items, type) := union({_ceiling_item(item, type) | some item in items})

_ceiling_item(item, type) := _field_items(group.allow, type) - _paths(group.never) if {
	group := _ceilings.groups[item]
} else := _field_item(item, type)

_field_items(items, type) := union({_field_item(item, type) | some item in items})

_field_item(item, type) := _paths(data.safehub.fields.paths) | _detail_fields(type) if {
	item == "ALL"
} else := _detail_fields(type) if {
	item == "DETAIL"
} else := _paths(group) if {
	group := data.safehub.fields.groups[item]
} else := {item}

_detail_fields(type) := _paths(fields) if {
	fields := data.safehub.fields.detail[type]
} else := set()

# Every permitted field beyond its recipient's ceiling, as [notice type, source agency,
# classification, subscriber, field].
_beyond_ceiling(notices, subscribers) := {[notice.notice_type, notice.source.agency, notice.classification, sid, path] |
	some notice in notices
	some sid, decision in _decide_for(notice, subscribers)
	ceiling := _ceiling(subscribers[sid].role, notice.notice_type)
	some path in decision.permitted_fields
	not path in ceiling
}

# The same, each notice decided with the child's `context`.
_beyond_ceiling_in(notices, context, subscribers) := {[notice.notice_type, notice.source.agency, notice.classification, sid, path] |
	some notice in notices
	some sid, decision in _decide_for_in(notice, context, subscribers)
	ceiling := _ceiling(subscribers[sid].role, notice.notice_type)
	some path in decision.permitted_fields
	not path in ceiling
}

# Everything a context can say, naming the test subscribers' organisations.
_full_context := _context({
	"exploitation": {"flagged": true, "flagged_by": ["HEALTH", "POLICE"], "types": ["CRIMINAL"]},
	"missing_episodes": [
		_episode("POLICE", "2026-10-01T10:00:00.000+00:00", "n1"),
		_episode("CHILDRENS_SERVICES", "2026-11-01T10:00:00.000+00:00", "n2"),
	],
	"looked_after": true, "placing_la": "LA-E09000001", "responsible_la": "LA-E09000001",
	"cp_plan": true, "school_urn": "URN-999999",
})

# --- the notices ----------------------------------------------------------------------------

# The notices of the matrix in decisions_test.rego at one classification.
_matrix_notices(classification) := [_notice(type, agency, classification) |
	some type, rows in _expected
	some agency, _ in rows
]

_graded_e := _with(_sample("POLICE_INTELLIGENCE"), {"intelligence_grading": {"intelligence_assessment": "E"}})

_legacy_2_authorised := _with(
	_graded(_sample("POLICE_INTELLIGENCE"), "LEGACY_5X5X5", "2"),
	{"intelligence_grading": {"dissemination_authorisation": "AUTH-2026-0042"}},
)

# The special cases the other test files build, and a few more, in three batches (each test
# evaluates every subscriber on every notice it names, so a batch is kept small).
_special_health_and_police := [
	_sexual_health,
	_with(_sexual_health, {"detail": {"released_for_cp_decision": true}}),
	_with(_sexual_health, {"detail": {"setting": "SARC"}}),
	_cpis_access,
	_with(_cpis_access, {"subject": {"responsible_la": "LA-E09000001", "looked_after": true, "placing_la": "LA-E09000099"}}),
	_intel_c,
	_graded_e,
	_legacy_2_authorised,
	_notice("POLICE_INTELLIGENCE", "POLICE", "OFFICIAL"),
	_graded(_sample("DOMESTIC_ABUSE_INCIDENT"), "GRADING_3X5X2", "C"),
	_graded(_sample("DOMESTIC_ABUSE_INCIDENT"), "GRADING_3X5X2", "P"),
	_with(_sample("DOMESTIC_ABUSE_INCIDENT"), {"subject": {"age_years": null}, "detail": {"school_urn": "urn: 999999"}}),
	_with(_sample("DOMESTIC_ABUSE_INCIDENT"), {"detail": {"children_present": false}}),
	_with(_sample("SAFEGUARDING_CONTACT"), {"narrative": {"sensitivity": "POLICE_CONFIDENTIAL"}}),
	_with(_sample("SAFEGUARDING_CONTACT"), {"narrative": {"sensitivity": "CLINICAL"}}),
	_with(_sample("SAFEGUARDING_CONTACT"), {"secret_extra": "x", "detail": {"extra": "y"}}),
]

_special_missing_and_referrals := [
	_refused_no_risk,
	_absent,
	_with(_absent, {"subject": {"exploitation_flagged": true}}),
	_with(_absent, {"subject": {"looked_after": true, "placing_la": "LA-E09000001"}}),
	_with(_absent, {"detail": {"episodes_last_90_days": 5}}),
	_with(_sample("MISSING_EPISODE"), {"detail": {"status": "FOUND"}}),
	_with(_sample("MISSING_EPISODE"), {"detail": {"status": "REPORTED", "ended_at": null}}),
	_with(_sample("MISSING_EPISODE"), {"subject": {"looked_after": true, "placing_la": "LA-E09000001"}}),
	_nrm_looked_after,
	_with(_sample("VCS_UPDATE"), {"detail": {"kind": "NRM_REFERRAL"}}),
	_with(_sample("VCS_UPDATE"), {"detail": {"kind": "RETURN_INTERVIEW_OUTCOME"}}),
	_with(_sample("VCS_UPDATE"), {"risk": {"level": "LOW"}}),
	_with(_sample("CSC_STATUS_CHANGE"), {"detail": {"change": "LOOKED_AFTER_ENDED", "legal_status": "C2"}}),
	_with(_sample("CSC_STATUS_CHANGE"), {"risk": {"level": "LOW"}}),
]

# MASH decisions, and every triage type in immediate danger while the MASH is closed (the
# emergency duty team).
_special_decisions_and_danger := array.concat(
	[
		_early_help,
		_decision_with({"outcome": "EARLY_HELP", "family_agreement": false}),
		_decision_with({"outcome": "S17_ASSESSMENT"}),
		_decision_with({"outcome": "OPEN_CASE"}),
		_with(_decision_with({"outcome": "NFA"}), {"classification": "OFFICIAL", "detail": {"referring_organisations": ["VCS-SYN001", "POL-XX01", "NHS-RXX00"]}}),
		_in_danger_at(_sample("SAFEGUARDING_CONTACT"), _mash_open_at),
	],
	[_in_danger_at(_sample(type), _mash_closed_at) | some type in object.keys(data.safehub.isa.notice_types)],
)

# --- the tests ------------------------------------------------------------------------------

test_no_matrix_decision_exceeds_the_ig_ceiling_official if {
	_beyond_ceiling(_matrix_notices("OFFICIAL"), _all_subscribers) == set()
}

test_no_matrix_decision_exceeds_the_ig_ceiling_official_sensitive if {
	_beyond_ceiling(_matrix_notices("OFFICIAL_SENSITIVE"), _all_subscribers) == set()
}

test_no_health_or_police_special_case_exceeds_the_ig_ceiling if {
	_beyond_ceiling(_special_health_and_police, _all_subscribers) == set()
}

test_no_missing_or_referral_special_case_exceeds_the_ig_ceiling if {
	_beyond_ceiling(_special_missing_and_referrals, _all_subscribers) == set()
}

test_no_decision_or_danger_special_case_exceeds_the_ig_ceiling if {
	_beyond_ceiling(_special_decisions_and_danger, _all_subscribers) == set()
}

# What another agency told the hub widens who is told (R7, R8, R9, R12), never what a role
# may receive.
test_no_decision_in_the_fullest_context_exceeds_the_ig_ceiling if {
	_beyond_ceiling_in(_matrix_notices("OFFICIAL_SENSITIVE"), _full_context, _all_subscribers) == set()
	_beyond_ceiling_in(_special_missing_and_referrals, _full_context, _all_subscribers) == set()
}

# The immediate protection decision summary goes to the police public protection unit too.
test_immediate_protection_decision_stays_within_the_ig_ceiling if {
	notice := _decision_with({"outcome": "IMMEDIATE_PROTECTION", "family_agreement": false})
	_beyond_ceiling([notice], _all_subscribers) == set()
}

# The clinician's ceiling bounds emergency access through CP-IS only (issue 18): beyond the
# register's minimum, who to call, what the plan is about and its summary; never the full
# account, sources or other people. No sharing rule routes a plan change to the role.
test_unscheduled_care_clinician_ceiling_is_for_emergency_access_only if {
	clinician := _ceiling("UNSCHEDULED_CARE_CLINICIAN", "CSC_STATUS_CHANGE")
	register := _ceiling("CPIS_REGISTER", "CSC_STATUS_CHANGE")
	register != set()
	clinician - register == {"detail.allocated_worker", "detail.primary_need", "risk.level", "risk.immediate_danger", "narrative.summary"}
	every path in register {
		path in clinician
	}
	every path in ["narrative.full_account", "detail.source_details", "referrer", "third_parties", "detail.assessment_factors"] {
		not path in clinician
	}
	every notice in [_sample("CSC_STATUS_CHANGE"), _with(_sample("CSC_STATUS_CHANGE"), {"risk": {"level": "LOW"}})] {
		given := {sid |
			some sid, decision in _decide_for(notice, _all_subscribers)
			_all_subscribers[sid].role == "UNSCHEDULED_CARE_CLINICIAN"
			count(decision.permitted_fields) > 0
		}
		given == set()
	}
}

# The expansion itself, on entries whose ceiling is known by heart.
test_ceiling_expansion if {
	_ceiling("UNSCHEDULED_CARE_CLINICIAN", "HEALTH_SAFEGUARDING_ALERT") == set()
	_ceiling("NOT_A_ROLE", "SAFEGUARDING_CONTACT") == set()
	_field_item("DETAIL", "NOT_A_TYPE") == set()
	_ceiling("SOCIAL_WORKER", "SAFEGUARDING_CONTACT") == set()
	_ceiling("VCS_MASH_PARTNER", "TRAFFICKING_NRM") == {"notice_id", "notice_type", "created_at", "subject.linkage_key"}
	_ceiling("HEALTH_NAVIGATOR", "POLICE_INTELLIGENCE") == _flag
	_ceiling("AGENCY_SAFEGUARDING_TEAM", "MASH_DECISION") == _views.feedback
	researcher := _ceiling("POLICE_RESEARCHER", "POLICE_INTELLIGENCE")
	"referrer" in researcher
	not "detail.source_details" in researcher
	la := _ceiling("SOCIAL_WORKER", "TRAFFICKING_NRM")
	"detail.exploitation_account" in la
	"detail.referred_at" in la
	not "detail.exploitation_account" in _ceiling("SOCIAL_WORKER", "MISSING_EPISODE")
	manager := _ceiling("MASH_MANAGER", "POLICE_INTELLIGENCE")
	"detail.sanitised_text" in manager
	"intelligence_grading" in manager
	every path in ["referrer", "third_parties", "narrative.full_account", "detail.source_details"] {
		not path in manager
	}
	every path in ["referrer", "narrative.full_account", "narrative.summary"] {
		_only_summary_allowed(path, la)
	}
}

_only_summary_allowed("narrative.summary", ceiling) if "narrative.summary" in ceiling

_only_summary_allowed(path, ceiling) if {
	path != "narrative.summary"
	not path in ceiling
}

# Every name the ceiling file uses resolves: ALL, DETAIL, one of its groups (which hold field
# groups and paths only), a field group or a field path the schema defines. A typo would
# otherwise allow nothing or, in "never", take nothing away.
test_ceiling_file_names_only_known_items if {
	known := _paths(data.safehub.fields.paths) | {path | some fields in data.safehub.fields.detail; some path in fields}
	field_items := (known | {"ALL", "DETAIL"}) | object.keys(data.safehub.fields.groups)
	every _, group in _ceilings.groups {
		every item in group.allow {
			item in field_items
		}
		every path in group.never {
			path in known
		}
	}
	every _, types in _ceilings.roles {
		every type, entry in types {
			data.safehub.isa.notice_types[type]
			every item in entry.allow {
				_ceiling_name(item, field_items)
			}
			every path in entry.never {
				path in known
			}
		}
	}
	every path in _ceilings.never_anywhere {
		path in known
	}
}

_ceiling_name(item, field_items) if item in field_items

_ceiling_name(item, _) if _ceilings.groups[item]

# Every role a subscriber may have has a ceiling entry (possibly empty), so a new role cannot
# slip past the ceiling unnoticed.
test_every_role_has_a_ceiling if {
	every role, _ in data.safehub.isa.roles {
		is_object(_ceilings.roles[role])
	}
}

# --- route by relationship, never by role alone ----------------------------------------------

_all_purposes := object.keys(data.safehub.isa.purposes)

# A subscriber of `role` outside the MASH, in an organisation that no notice names, for each
# kind of agency the rules tell apart (police, the voluntary sector, any other).
_elsewhere(roles) := {sprintf("elsewhere-%s-%s", [role, agency]): sub |
	some role in roles
	some agency in ["POLICE", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR"]
	sub := object.union(
		_test_subscriber(agency, sprintf("ELSEWHERE-%s", [role]), role, false, _all_purposes),
		{"school_type": "MAINTAINED"},
	)
}

# Every role, the MASH manager's included: a decision maker outside the MASH is not one.
_other_roles := object.keys(data.safehub.isa.roles)

# Whatever a subscriber gets that is not DENY, as [notice type, source agency, subscriber].
_received(notices, subscribers) := {[notice.notice_type, notice.source.agency, sid] |
	some notice in notices
	some sid, decision in _decide_for(notice, subscribers)
	decision.outcome != "DENY"
}

# Outside the MASH a recipient gets a notice only because the notice names its organisation:
# a subscriber of any role in an organisation no notice names gets nothing, whatever it is
# registered for. (The matrix at OFFICIAL: these subscribers are approved for both
# classifications, and a higher one can only add a veto.)
test_nobody_outside_the_mash_gets_a_matrix_notice_that_does_not_name_them if {
	_received(_matrix_notices("OFFICIAL"), _elsewhere(_other_roles)) == set()
}

test_nobody_outside_the_mash_gets_a_health_or_police_special_case_that_does_not_name_them if {
	_received(_special_health_and_police, _elsewhere(_other_roles)) == set()
}

test_nobody_outside_the_mash_gets_a_missing_or_referral_special_case_that_does_not_name_them if {
	_received(_special_missing_and_referrals, _elsewhere(_other_roles)) == set()
}

test_nobody_outside_the_mash_gets_a_decision_or_danger_special_case_that_does_not_name_them if {
	notices := array.concat(_special_decisions_and_danger, [_decision_with({"outcome": "IMMEDIATE_PROTECTION"})])
	_received(notices, _elsewhere(_other_roles)) == set()
}

# A context is a fact an agency told the hub about the child's authorities and school, so it
# routes by relationship too: a context that names none of their organisations sends them
# nothing, and one that names an organisation reaches it only through R7, R9 and R12.
test_nobody_outside_the_mash_gets_a_notice_whose_context_does_not_name_them if {
	_received(_special_missing_and_referrals, _elsewhere(_other_roles)) == set() with data.safehub.sharing._child_context as _full_context
}

test_a_context_that_names_the_organisation_reaches_it if {
	elsewhere := _elsewhere(_other_roles)
	unnamed := _with(_sample("MISSING_EPISODE"), {"subject": {"responsible_la": null}})
	told := _context({"responsible_la": "ELSEWHERE-SOCIAL_WORKER"})
	_decide_for_in(unnamed, told, elsewhere)["elsewhere-SOCIAL_WORKER-CHILDRENS_SERVICES"].outcome == "PARTIAL"
	no_school := _with(_sample("DOMESTIC_ABUSE_INCIDENT"), {"detail": {"school_urn": null}})
	school := _context({"school_urn": "ELSEWHERE-DESIGNATED_SAFEGUARDING_LEAD"})
	_decide_for_in(no_school, school, elsewhere)["elsewhere-DESIGNATED_SAFEGUARDING_LEAD-CHILDRENS_SERVICES"].outcome == "PARTIAL"

	# Only the social workers of that organisation (one per kind of agency), nobody else.
	received := {sid |
		some sid, decision in _decide_for_in(unnamed, told, elsewhere)
		decision.outcome != "DENY"
	}
	received == {sprintf("elsewhere-SOCIAL_WORKER-%s", [agency]) | some agency in ["POLICE", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR"]}
}

# Adding a second subscriber of a role never widens who sees what: the hub's own subscribers
# get exactly the same decisions with the extra subscribers present.
test_more_subscribers_of_a_role_change_nobody_elses_decision if {
	crowded := object.union(data.safehub.subscribers, _elsewhere(_other_roles))
	notices := [
		_sample("MISSING_EPISODE"),
		_sample("DOMESTIC_ABUSE_INCIDENT"),
		_sample("TRAFFICKING_NRM"),
		_sample("CSC_STATUS_CHANGE"),
		_cpis_access,
		_decision_with({"outcome": "IMMEDIATE_PROTECTION"}),
		_early_help,
		_in_danger_at(_sample("SAFEGUARDING_CONTACT"), _mash_closed_at),
	]
	every notice in notices {
		alone := _decide(notice)
		together := _decide_for(notice, crowded)
		every sid, decision in alone {
			together[sid] == decision
		}
	}
}

# The same subscribers do get what a notice sends to their organisation, so the test above is
# not empty by construction.
test_a_notice_that_names_the_organisation_reaches_it if {
	elsewhere := _elsewhere(_other_roles)
	named := [
		["elsewhere-SOCIAL_WORKER-CHILDRENS_SERVICES", _with(_sample("MISSING_EPISODE"), {"subject": {"responsible_la": "ELSEWHERE-SOCIAL_WORKER"}})],
		["elsewhere-DESIGNATED_SAFEGUARDING_LEAD-CHILDRENS_SERVICES", _with(_sample("DOMESTIC_ABUSE_INCIDENT"), {"detail": {"school_urn": "ELSEWHERE-DESIGNATED_SAFEGUARDING_LEAD"}})],
		["elsewhere-AGENCY_SAFEGUARDING_TEAM-CHILDRENS_SERVICES", _decision_with({"referring_organisations": ["ELSEWHERE-AGENCY_SAFEGUARDING_TEAM"]})],
		["elsewhere-EARLY_HELP_WORKER-CHILDRENS_SERVICES", _decision_with({"outcome": "EARLY_HELP", "family_agreement": true, "early_help_organisation": "ELSEWHERE-EARLY_HELP_WORKER"})],
		["elsewhere-EMERGENCY_DUTY_TEAM-CHILDRENS_SERVICES", _with(_in_danger_at(_sample("SAFEGUARDING_CONTACT"), _mash_closed_at), {"subject": {"responsible_la": "ELSEWHERE-EMERGENCY_DUTY_TEAM"}})],
	]
	every pair in named {
		[sid, notice] := pair
		_decide_for(notice, elsewhere)[sid].outcome == "PARTIAL"
	}
	rhi := _with(_sample("MISSING_EPISODE"), {"subject": {"responsible_la": "LA-E09000001"}})
	commissioned := _decide_for(rhi, elsewhere) with data.safehub.rules.R7.commissioned_providers as {"LA-E09000001": ["ELSEWHERE-RETURN_INTERVIEW_WORKER"]}
	commissioned["elsewhere-RETURN_INTERVIEW_WORKER-VOLUNTARY_SECTOR"].outcome == "PARTIAL"
}
