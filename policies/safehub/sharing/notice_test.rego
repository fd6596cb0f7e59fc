package safehub.sharing_test

_refused_with(notice, reason) if {
	decisions := _decide(notice)
	object.keys(decisions) == object.keys(data.safehub.subscribers)
	every decision in decisions {
		decision.outcome == "DENY"
		decision.permitted_fields == []
		decision.rule_ids == ["R15"]
		decision.isa_clause == "ISA-2.1"
		decision.explanation == concat("", ["Withheld because ", reason, "."])
	}
}

test_no_notice_is_refused if {
	_refused_with(null, data.safehub.rules.invalid.no_notice)
	_refused_with("a notice", data.safehub.rules.invalid.no_notice)
}

test_missing_input_is_refused if {
	decisions := data.safehub.sharing.decisions with input as {}
	decisions["mash-manager"].explanation == "Withheld because the request carried no notice, so nothing can be shared (fail closed)."
}

test_unknown_notice_type_is_refused if {
	_refused_with(_with(_sample("SAFEGUARDING_CONTACT"), {"notice_type": "GOSSIP"}), data.safehub.rules.invalid.unknown_type)
	_refused_with(object.remove(_sample("SAFEGUARDING_CONTACT"), ["notice_type"]), data.safehub.rules.invalid.unknown_type)
}

test_unclassified_notice_is_refused if {
	reason := data.safehub.rules.invalid.no_classification
	_refused_with(_with(_sample("SAFEGUARDING_CONTACT"), {"classification": null}), reason)
	_refused_with(_with(_sample("SAFEGUARDING_CONTACT"), {"classification": "SECRET"}), reason)
	_refused_with(object.remove(_sample("SAFEGUARDING_CONTACT"), ["classification"]), reason)
}

test_unknown_agency_is_refused if {
	reason := data.safehub.rules.invalid.unknown_agency
	_refused_with(_with(_sample("SAFEGUARDING_CONTACT"), {"source": {"agency": "EDUCATION"}}), reason)
	_refused_with(object.remove(_sample("SAFEGUARDING_CONTACT"), ["source"]), reason)
}

test_unauthorised_sender_is_refused if {
	notice := _with(_sample("POLICE_INTELLIGENCE"), {"source": {"agency": "HEALTH"}})
	_refused_with(notice, data.safehub.rules.invalid.sender_not_authorised)
}

test_notice_without_linkage_key_is_refused if {
	reason := data.safehub.rules.invalid.no_subject
	_refused_with(_with(_sample("SAFEGUARDING_CONTACT"), {"subject": {"linkage_key": ""}}), reason)
	_refused_with(object.remove(_sample("SAFEGUARDING_CONTACT"), ["subject"]), reason)
}

test_notice_without_detail_is_refused if {
	_refused_with(_with(_sample("SAFEGUARDING_CONTACT"), {"detail": null}), data.safehub.rules.invalid.no_detail)
}

# Null fields, empty lists and empty records hold no information, so are not "present":
# withholding them is not a partial disclosure.
test_empty_fields_are_not_present if {
	notice := _with(_sample("SAFEGUARDING_CONTACT"), {
		"referrer": null,
		"third_parties": [],
		"concerns": [],
		"narrative": {"full_account": null},
		"source": {"source_system": null},
		"consent": {"reason_not_sought": null},
	})
	decision := _decide(notice)["mash-manager"]
	decision.outcome == "PERMIT"
	_fields(decision) == _sample_paths("SAFEGUARDING_CONTACT") - {
		"referrer", "third_parties", "concerns", "narrative.full_account",
		"source.source_system", "consent.reason_not_sought",
	}
}

# Records inside a container go whole (detail.cpis_flag), the container's fields one by one.
test_records_inside_containers_go_whole if {
	decision := _decide(_sample("HEALTH_SAFEGUARDING_ALERT"))["mash-health-navigator"]
	"detail.cpis_flag" in decision.permitted_fields
	not "detail.cpis_flag.plan_type" in decision.permitted_fields
	"subject.nhs_number" in decision.permitted_fields
}

test_fields_the_rules_do_not_know_are_withheld if {
	notice := _with(_sample("SAFEGUARDING_CONTACT"), {"secret_extra": "x", "detail": {"extra": "y"}})
	decision := _decide(notice)["mash-manager"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _sample_paths("SAFEGUARDING_CONTACT")
	decision.explanation == concat("", [
		"Shared because any agency may tell the MASH about a child at risk, with or without consent (R1), ",
		"and MASH decision makers see the full content during triage (R2); withheld detail.extra and ",
		"secret_extra because they are not fields the sharing rules know (fail closed).",
	])
	decision.rule_ids == ["R1", "R15", "R2"]
}

test_field_catalogue_covers_every_labelled_path if {
	known := {path | some path in data.safehub.fields.paths} | {path |
		some paths in data.safehub.fields.detail
		some path in paths
	}
	every path, _ in data.safehub.fields.labels {
		path in known
	}
}

test_views_and_groups_name_known_fields if {
	known := ({path | some path in data.safehub.fields.paths} | {path |
		some paths in data.safehub.fields.detail
		some path in paths
	}) | {"ALL", "DETAIL"}
	every _, items in data.safehub.rules.views {
		every item in items {
			_known_item(item, known)
		}
	}
}

_known_item(item, known) if item in known

_known_item(item, _) if data.safehub.fields.groups[item]
