package safehub.sharing_test

_encompass := {
	"notice_id", "notice_type", "created_at", "source.agency", "subject.linkage_key",
	"subject.given_name", "subject.family_name", "subject.date_of_birth", "subject.upn",
	"detail.incident_at", "contact_point",
}

test_operation_encompass_minimum_with_no_narrative if {
	decision := _decide(_sample("DOMESTIC_ABUSE_INCIDENT"))["school-dsl"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _encompass
	not "narrative.summary" in decision.permitted_fields
	decision.purpose == "OPERATION_ENCOMPASS"
	decision.isa_clause == "ISA-5.2"
	decision.rule_ids == ["R14", "R15", "R2", "R9"]
	decision.lawful_basis.statutory_gateway == "Children Act 2004 s11; Education Act 2002 s175; Crime and Disorder Act 1998 s115"
	decision.explanation == concat("", [
		"Shared because police attended a domestic abuse incident at which this school-age child was present, ",
		"so the school's designated safeguarding lead gets the Operation Encompass minimum before the next school day (R9); ",
		"withheld the referrer's identity and third parties' identities because referrers and third parties could be harmed, ",
		"so their identities are masked outside the MASH (R14); withheld the full account and the account's sensitivity marking ",
		"because the MASH is a firewall: the full account and the MASH's internal reasoning stay inside it (R2); ",
		"withheld everything else because Operation Encompass passes only the child's identity, the time of the incident, ",
		"that police attended and whom to contact, never any narrative (R9).",
	])
}

test_school_age_is_4_to_16_inclusive if {
	every age, outcome in {"3": "DENY", "4": "PARTIAL", "16": "PARTIAL", "17": "DENY"} {
		notice := _with(_sample("DOMESTIC_ABUSE_INCIDENT"), {"subject": {"age_years": to_number(age)}})
		_decide(notice)["school-dsl"].outcome == outcome
	}
}

test_unknown_age_is_not_school_age if {
	notice := _with(_sample("DOMESTIC_ABUSE_INCIDENT"), {"subject": {"age_years": null}})
	decision := _decide(notice)["school-dsl"]
	decision.outcome == "DENY"
	decision.explanation == "Withheld because the child is not of school age (4 to 16) or the age is not known, so Operation Encompass does not apply (R9)."
}

test_no_child_present_no_encompass if {
	notice := _with(_sample("DOMESTIC_ABUSE_INCIDENT"), {"detail": {"children_present": false}})
	decision := _decide(notice)["school-dsl"]
	decision.outcome == "DENY"
	decision.rule_ids == ["R15", "R9"]
	decision.explanation == "Withheld because no child was present at the incident, so Operation Encompass does not apply (R9)."
}

test_only_the_childs_school_is_told if {
	every urn in ["URN-100000", null] {
		notice := _with(_sample("DOMESTIC_ABUSE_INCIDENT"), {"detail": {"school_urn": urn}})
		decision := _decide(notice)["school-dsl"]
		decision.outcome == "DENY"
		decision.explanation == "Withheld because the notice does not name this school as the child's school, so Operation Encompass does not send it here (R9)."
	}
}
