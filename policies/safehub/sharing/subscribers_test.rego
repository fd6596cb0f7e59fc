package safehub.sharing_test

_official_only := object.union(data.safehub.subscribers, {"school-dsl": {"classifications": ["OFFICIAL"]}})

test_recipient_not_approved_for_the_classification_is_refused if {
	sensitive := _decide_for(_sample("DOMESTIC_ABUSE_INCIDENT"), _official_only)["school-dsl"]
	sensitive.outcome == "DENY"
	sensitive.isa_clause == "ISA-2.1"
	sensitive.explanation == "Withheld because the recipient is not approved under the information-sharing agreement to receive material at this notice's security classification."
	official := _notice("DOMESTIC_ABUSE_INCIDENT", "POLICE", "OFFICIAL")
	_decide_for(official, _official_only)["school-dsl"].outcome == "PARTIAL"
}

test_recipient_with_no_approval_recorded_gets_official_only if {
	subscribers := {"manager": object.remove(data.safehub.subscribers["mash-manager"], ["classifications"])}
	_decide_for(_notice("SAFEGUARDING_CONTACT", "POLICE", "OFFICIAL"), subscribers).manager.outcome == "PERMIT"
	_decide_for(_sample("SAFEGUARDING_CONTACT"), subscribers).manager.outcome == "DENY"
}

# A flag falls back to the subscriber's own purpose when it has no triage purpose.
test_flag_purpose_falls_back_to_the_subscribers_purpose if {
	subscribers := {"hub-analyst": _test_subscriber("CHILDRENS_SERVICES", "LA-E09000099", "ANALYST", true, ["CHILD_PROTECTION_ENQUIRY"])}
	decision := _decide_for(_graded(_sample("POLICE_INTELLIGENCE"), "GRADING_3X5X2", "C"), subscribers)["hub-analyst"]
	decision.outcome == "FLAG_ONLY"
	decision.purpose == "CHILD_PROTECTION_ENQUIRY"
}

test_every_subscriber_purpose_and_role_is_known if {
	every sub in data.safehub.subscribers {
		every purpose in sub.purposes {
			purpose in object.keys(data.safehub.isa.purposes)
		}
		data.safehub.isa.roles[sub.role]
	}
}

# Outside R7 and R12 the responsible authority is the notice's alone: a notice naming none is
# for the hub's own local authority, whatever an agency told the hub (input.context).
test_without_a_named_authority_the_hubs_own_stands_in_outside_r7_and_r12 if {
	unnamed := _with(_in_danger_at(_sample("SAFEGUARDING_CONTACT"), _mash_closed_at), {"subject": {"responsible_la": null}})
	_decide(unnamed)["emergency-duty-team"].outcome == "PARTIAL"
	_decide_in(unnamed, _context({"responsible_la": "LA-E09000001"}))["emergency-duty-team"].outcome == "PARTIAL"
}
