package safehub.sharing_test

# Table-driven: every valid (source agency x notice type) pair, both classifications, every
# subscriber. Each cell is "<outcome> <fields>", where <fields> names the expected permitted
# fields (see _expected_fields below), so outcome AND fields are asserted exactly.

# One row per (notice type, source agency): a cell for every subscriber in
# data.safehub.subscribers. The subscribers outside the MASH that no sample notice names
# (the emergency duty team, the agency safeguarding teams and the CP-IS register) get
# nothing unless `outside` says otherwise.
_row(manager, navigator, researcher, local_authority, return_interview, school) := _row_with(
	manager, navigator, researcher, local_authority, return_interview, school,
	{},
)

_row_with(manager, navigator, researcher, local_authority, return_interview, school, outside) := object.union(
	{
		"mash-manager": manager,
		"mash-health-navigator": navigator,
		"mash-police-researcher": researcher,
		"responsible-la": local_authority,
		"return-interview-provider": return_interview,
		"school-dsl": school,
		"emergency-duty-team": "DENY none",
		"police-safeguarding-team": "DENY none",
		"health-safeguarding-team": "DENY none",
		"vcs-safeguarding-lead": "DENY none",
		"cpis-register": "DENY none",
	},
	outside,
)

_triage_only := {
	"POLICE": _row("PERMIT all", "PARTIAL partner", "PERMIT all", "DENY none", "DENY none", "DENY none"),
	"HEALTH": _row("PARTIAL partner", "PERMIT all", "PARTIAL partner", "DENY none", "DENY none", "DENY none"),
	"CHILDRENS_SERVICES": _row("PERMIT all", "PARTIAL partner", "PARTIAL partner", "DENY none", "DENY none", "DENY none"),
	"VOLUNTARY_SECTOR": _row("PERMIT all", "PARTIAL partner", "PARTIAL partner", "DENY none", "DENY none", "DENY none"),
}

_expected := {
	"SAFEGUARDING_CONTACT": _triage_only,
	"EXPLOITATION_CONCERN": _triage_only,
	"DOMESTIC_ABUSE_INCIDENT": {"POLICE": _row(
		"PERMIT all", "PARTIAL partner", "PERMIT all",
		"DENY none", "DENY none", "PARTIAL encompass",
	)},
	"MISSING_EPISODE": {
		"POLICE": _row("PERMIT all", "PARTIAL partner", "PERMIT all", "PARTIAL la", "PARTIAL rhi", "DENY none"),
		"CHILDRENS_SERVICES": _row(
			"PERMIT all", "PARTIAL partner", "PARTIAL partner",
			"PARTIAL la", "PARTIAL rhi", "DENY none",
		),
	},
	# R12: others in the MASH see a flag that names no service.
	"TRAFFICKING_NRM": {agency: _row("PERMIT all", "FLAG_ONLY generic_flag", "PERMIT all", "PARTIAL la", "DENY none", "DENY none") |
		some agency in ["POLICE", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR"]
	},
	# R13: a trust's alert is for MASH triage; a CP-IS access notification goes to the local
	# authority that owns the plan, and to nobody else.
	"HEALTH_SAFEGUARDING_ALERT": {
		"HEALTH": _row(
			"PARTIAL clinical", "PERMIT all", "PARTIAL clinical",
			"DENY none", "DENY none", "DENY none",
		),
		"CPIS": _row(
			"DENY none", "DENY none", "DENY none",
			"PARTIAL cpis_la", "DENY none", "DENY none",
		),
	},
	"CSC_STATUS_CHANGE": {"CHILDRENS_SERVICES": _row_with(
		"PERMIT all", "PARTIAL partner", "PARTIAL partner",
		"DENY none", "DENY none", "DENY none",
		{"cpis-register": "PARTIAL cpis_register"},
	)},
	"POLICE_INTELLIGENCE": {"POLICE": _row(
		"PARTIAL intelligence", "FLAG_ONLY flag", "PARTIAL source",
		"DENY none", "DENY none", "DENY none",
	)},
	# The sample decision names the police force and the NHS trust as referrers.
	"MASH_DECISION": {"MASH": _row_with(
		"PERMIT all", "PERMIT all", "PERMIT all",
		"PARTIAL la_decision", "DENY none", "DENY none",
		{"police-safeguarding-team": "PARTIAL feedback", "health-safeguarding-team": "PARTIAL feedback"},
	)},
	"VCS_UPDATE": {"VOLUNTARY_SECTOR": _row(
		"PERMIT all", "PARTIAL partner", "PARTIAL partner",
		"DENY none", "DENY none", "DENY none",
	)},
}

_account := {"narrative.full_account", "narrative.sensitivity"}

_withheld := {
	"all": set(),
	"partner": _account,
	"clinical": (_account | {"detail.clinical_detail", "detail.snomed_codes"}),
	"source": {"detail.source_details"},
	"intelligence": ((_account | {"referrer", "third_parties"}) | {"detail.source_details"}),
	"la": (_account | {"referrer", "third_parties"}),
	"la_decision": ((_account | {"referrer", "third_parties"}) | {"detail.rationale", "detail.related_notice_ids"}),
}

_identity := {"subject.linkage_key", "subject.given_name", "subject.family_name", "subject.date_of_birth"}

_views := {
	"none": set(),
	"flag": _flag,
	"generic_flag": _generic_flag,
	"encompass": {
		"notice_id", "notice_type", "created_at", "source.agency", "subject.linkage_key",
		"subject.given_name", "subject.family_name", "subject.date_of_birth", "subject.upn",
		"detail.incident_at", "contact_point",
	},
	"rhi": {
		"notice_id", "notice_type", "created_at", "subject.linkage_key", "subject.given_name",
		"subject.family_name", "subject.date_of_birth", "subject.la_child_id",
		"subject.exploitation_flagged", "detail.status", "detail.risk_grade", "detail.ended_at",
		"detail.return_interview_due_at", "detail.carer_contact",
	},
	"cpis_la": {
		"notice_id", "notice_type", "created_at", "source.agency", "source.organisation_code",
		"subject.linkage_key", "subject.nhs_number", "subject.la_child_id", "subject.upn",
		"subject.given_name", "subject.family_name", "subject.date_of_birth", "detail.setting",
		"detail.seen_at", "detail.unscheduled_care", "detail.cpis_flag", "contact_point",
	},
	"cpis_register": {
		"notice_id", "notice_type", "created_at", "subject.linkage_key", "subject.nhs_number",
		"subject.responsible_la", "detail.change", "detail.effective_date", "detail.cp_category",
		"contact_point",
	},
	"feedback": (_identity | {"notice_id", "notice_type", "created_at", "detail.outcome", "contact_point"}),
}

_expected_fields(type, symbol) := _sample_paths(type) - withheld if {
	withheld := _withheld[symbol]
} else := _views[symbol]

# Every cell that does not match, as [type, agency, classification, subscriber, decision].
_mismatches(type) := {[type, agency, classification, sid, got] |
	some agency, row in _expected[type]
	some classification in _both_classifications
	decisions := _decide(_notice(type, agency, classification))
	some sid, cell in row
	[outcome, symbol] := split(cell, " ")
	got := decisions[sid]
	not _matches(got, outcome, _expected_fields(type, symbol))
}

_matches(decision, outcome, fields) if {
	decision.outcome == outcome
	_fields(decision) == fields
}

test_matrix_has_a_cell_for_every_subscriber if {
	every rows in _expected {
		every row in rows {
			object.keys(row) == object.keys(data.safehub.subscribers)
		}
	}
}

test_matrix_covers_every_authorised_sender if {
	authorised := {[type, agency] |
		some type, spec in data.safehub.isa.notice_types
		some agency in spec.senders
	}
	tabled := {[type, agency] | some type, rows in _expected; some agency, _ in rows}
	tabled == authorised
}

test_matrix_safeguarding_contact if _mismatches("SAFEGUARDING_CONTACT") == set()

test_matrix_domestic_abuse_incident if _mismatches("DOMESTIC_ABUSE_INCIDENT") == set()

test_matrix_missing_episode if _mismatches("MISSING_EPISODE") == set()

test_matrix_exploitation_concern if _mismatches("EXPLOITATION_CONCERN") == set()

test_matrix_trafficking_nrm if _mismatches("TRAFFICKING_NRM") == set()

test_matrix_health_safeguarding_alert if _mismatches("HEALTH_SAFEGUARDING_ALERT") == set()

test_matrix_csc_status_change if _mismatches("CSC_STATUS_CHANGE") == set()

test_matrix_police_intelligence if _mismatches("POLICE_INTELLIGENCE") == set()

test_matrix_mash_decision if _mismatches("MASH_DECISION") == set()

test_matrix_vcs_update if _mismatches("VCS_UPDATE") == set()

# An agency that is a party to the ISA but not an authorised sender of the type: deny all.
test_unauthorised_senders_are_refused if {
	refused := {[type, agency, sid] |
		some type, spec in data.safehub.isa.notice_types
		some agency in object.keys(data.safehub.agencies)
		not agency in spec.senders
		some sid, decision in _decide(_notice(type, agency, "OFFICIAL"))
		decision.outcome == "DENY"
		decision.explanation == "Withheld because the source agency is not authorised to send this type of notice, so nothing can be shared (fail closed)."
	}
	count(refused) == 40 * count(data.safehub.subscribers)
}

# The contract: one well-formed decision for every subscriber, whatever the notice.
test_every_subscriber_gets_a_well_formed_decision if {
	notices := [_sample(type) | some type in object.keys(data.safehub.isa.notice_types)]
	every notice in array.concat(notices, [null, {}, "junk", {"notice_type": 7}]) {
		decisions := _decide(notice)
		object.keys(decisions) == object.keys(data.safehub.subscribers)
		every decision in decisions {
			_well_formed(decision)
		}
	}
}

test_batch_decides_each_notice_as_if_alone if {
	notices := [_sample("MISSING_EPISODE"), null, _sample("POLICE_INTELLIGENCE")]
	batch := data.safehub.sharing.batch_decisions with input as {"notices": notices}
	batch == [_decide(notice) | some notice in notices]
	batch[0] != batch[2]
}

# Each notice of a batch with its own child's context (input.contexts, keyed by linkage key);
# a child the batch has no context for is one the hub knows nothing about.
test_batch_decides_each_notice_with_its_own_childs_context if {
	flagged := _with(_absent, {"subject": {"linkage_key": "flagged"}})
	looked_after := _with(_absent, {"subject": {"linkage_key": "looked-after"}})
	unknown := _with(_absent, {"subject": {"linkage_key": "unknown"}})
	contexts := {
		"flagged": _context({"exploitation": {"flagged": true, "flagged_by": ["POLICE"]}}),
		"looked-after": _context({"looked_after": true}),
		"unknown": "not a context",
	}
	notices := [flagged, looked_after, unknown, null]
	batch := data.safehub.sharing.batch_decisions with input as {"notices": notices, "contexts": contexts}
	batch == [
		_decide_in(flagged, contexts.flagged),
		_decide_in(looked_after, contexts["looked-after"]),
		_decide(unknown),
		_decide(null),
	]
	batch[0]["responsible-la"].outcome == "PARTIAL"
	batch[2]["responsible-la"].outcome == "DENY"
}

_well_formed(decision) if {
	decision.outcome in {"PERMIT", "PARTIAL", "FLAG_ONLY", "DENY"}
	decision.permitted_fields == sort(decision.permitted_fields)
	decision.rule_ids == sort(decision.rule_ids)
	decision.purpose in object.keys(data.safehub.isa.purposes)
	is_string(decision.lawful_basis.article6)
	is_string(decision.lawful_basis.statutory_gateway)
	startswith(decision.explanation, _explanation_start[decision.outcome])
	_r15_when_not_permitted(decision)
}

_explanation_start := {"PERMIT": "Shared because ", "PARTIAL": "Shared because ", "FLAG_ONLY": "Withheld because ", "DENY": "Withheld because "}

_r15_when_not_permitted(decision) if decision.outcome == "PERMIT"

_r15_when_not_permitted(decision) if {
	decision.outcome != "PERMIT"
	"R15" in decision.rule_ids
}

test_deny_permits_nothing_and_cites_no_basis if {
	decision := _decide(_sample("SAFEGUARDING_CONTACT"))["school-dsl"]
	decision.outcome == "DENY"
	decision.permitted_fields == []
	decision.lawful_basis == data.safehub.isa.no_disclosure
	decision.isa_clause == null
}

test_default_deny_names_role_and_type if {
	decision := _decide(_sample("MASH_DECISION"))["school-dsl"]
	decision.outcome == "DENY"
	decision.rule_ids == ["R15"]
	decision.explanation == "Withheld because no sharing rule gives the school's designated safeguarding lead a need to know about MASH decision notices."
	decision.purpose == "OPERATION_ENCOMPASS"
}

test_default_deny_outside_the_mash_cites_the_firewall if {
	decision := _decide(_sample("EXPLOITATION_CONCERN"))["responsible-la"]
	decision.rule_ids == ["R15", "R2"]
	decision.explanation == "Withheld because no sharing rule gives the local authority's social worker a need to know about exploitation concern notices, and MASH triage material stays inside the MASH (R2)."
}

# A subscriber that a rule would serve but that is not registered for the rule's purpose.
test_purpose_limitation_denies if {
	subscribers := {"duty-team": _test_subscriber("CHILDRENS_SERVICES", "LA-E09000099", "SOCIAL_WORKER", false, ["OPERATION_ENCOMPASS"])}
	decision := _decide_for(_sample("MISSING_EPISODE"), subscribers)["duty-team"]
	decision.outcome == "DENY"
	decision.explanation == "Withheld because the local authority's social worker is not registered for the purpose this sharing would serve."
}

# A grant whose view holds nothing present in the notice discloses nothing.
test_empty_view_denies if {
	decisions := _decide(_sample("CSC_STATUS_CHANGE")) with data.safehub.rules.views.cpis_register as ["x.y"]
	decisions["cpis-register"].outcome == "DENY"
	decisions["cpis-register"].explanation == "Withheld because nothing in this notice falls within what the CP-IS register may see."
}

test_unknown_role_and_missing_attributes_still_get_a_decision if {
	subscribers := {
		"visitor": {"role": "VISITOR", "inside_mash": false},
		"blank": {},
	}
	decisions := _decide_for(_notice("MASH_DECISION", "MASH", "OFFICIAL"), subscribers)
	decisions.visitor.explanation == "Withheld because no sharing rule gives VISITOR a need to know about MASH decision notices."
	decisions.blank.explanation == "Withheld because no sharing rule gives this recipient a need to know about MASH decision notices."
	decisions.blank.purpose == "SAFEGUARDING_TRIAGE"
}

test_no_subscribers_no_decisions if {
	_decide_for(_sample("SAFEGUARDING_CONTACT"), {}) == {}
}
