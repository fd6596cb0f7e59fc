package safehub.sharing_test

_encompass := {
	"notice_id", "notice_type", "created_at", "source.agency", "subject.linkage_key",
	"subject.given_name", "subject.family_name", "subject.date_of_birth", "subject.upn",
	"detail.incident_at", "contact_point",
}

_incident_with(patch) := _with(_sample("DOMESTIC_ABUSE_INCIDENT"), patch)

test_operation_encompass_minimum_with_no_narrative if {
	decision := _decide(_sample("DOMESTIC_ABUSE_INCIDENT"))["school-dsl"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _encompass
	not "narrative.summary" in decision.permitted_fields
	decision.purpose == "OPERATION_ENCOMPASS"
	decision.isa_clause == "ISA-5.2"
	decision.rule_ids == ["R14", "R15", "R2", "R9"]
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

# A school is not a relevant authority under s115; an academy's gateway is s157.
test_operation_encompass_cites_the_schools_own_gateway if {
	basis := _decide(_sample("DOMESTIC_ABUSE_INCIDENT"))["school-dsl"].lawful_basis
	basis.statutory_gateway == "Children Act 2004 s11; Education Act 2002 s157 and the Independent School Standards Regulations 2014"
	basis.dpa_part3 == "DPA 2018 Part 3 s35(5) and Sch 8 para 4 (the police's law-enforcement processing, as discloser)"
	basis.criminal_offence_condition == "UK GDPR Art 10 with DPA 2018 s10(5) and Sch 1 para 18 (safeguarding of children and individuals at risk)"
	basis.recipient_basis == "UK GDPR Art 6(1)(e) public task"
	maintained := object.union(data.safehub.subscribers, {"school-dsl": {"school_type": "MAINTAINED"}})
	_decide_for(_sample("DOMESTIC_ABUSE_INCIDENT"), maintained)["school-dsl"].lawful_basis.statutory_gateway == "Children Act 2004 s11; Education Act 2002 s175"
	unknown := {"school": object.remove(data.safehub.subscribers["school-dsl"], ["school_type"])}
	_decide_for(_sample("DOMESTIC_ABUSE_INCIDENT"), unknown).school.lawful_basis.statutory_gateway == "Children Act 2004 s11; Education Act 2002 s175 (maintained school or FE) or s157 (academy or independent school): the school's type is not recorded"
}

# Compulsory school age or sixth form: 4 to 18 inclusive.
test_school_age_is_4_to_18_inclusive if {
	every age, outcome in {"3": "DENY", "4": "PARTIAL", "16": "PARTIAL", "17": "PARTIAL", "18": "PARTIAL", "19": "DENY"} {
		notice := _incident_with({"subject": {"age_years": to_number(age)}})
		_decide(notice)["school-dsl"].outcome == outcome
	}
}

test_too_young_or_too_old_is_not_school_age if {
	every age in [3, 19] {
		decision := _decide(_incident_with({"subject": {"age_years": age}}))["school-dsl"]
		decision.rule_ids == ["R15", "R9"]
		decision.explanation == "Withheld because the child is not of school or sixth-form age (4 to 18) and the notice names no school, so Operation Encompass does not apply (R9)."
	}
}

# A child whose age is not known but whose school the police recorded is treated as at school.
test_unknown_age_with_a_named_school_is_school_age if {
	decision := _decide(_incident_with({"subject": {"age_years": null}}))["school-dsl"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _encompass
}

test_unknown_age_and_no_school_is_not_school_age if {
	decision := _decide(_incident_with({"subject": {"age_years": null}, "detail": {"school_urn": null}}))["school-dsl"]
	decision.outcome == "DENY"
	decision.explanation == "Withheld because the child is not of school or sixth-form age (4 to 18) and the notice names no school, so Operation Encompass does not apply (R9)."
}

# Present at the incident, or normally living in the household.
test_a_child_normally_resident_counts_as_present if {
	notice := _incident_with({"detail": {"children_present": false, "children_normally_resident": true}})
	_decide(notice)["school-dsl"].outcome == "PARTIAL"
	absent := _incident_with({"detail": {"children_present": true, "children_normally_resident": false}})
	_decide(absent)["school-dsl"].outcome == "PARTIAL"
}

test_no_child_present_no_encompass if {
	notice := _incident_with({"detail": {"children_present": false, "children_normally_resident": false}})
	decision := _decide(notice)["school-dsl"]
	decision.outcome == "DENY"
	decision.rule_ids == ["R15", "R9"]
	decision.explanation == "Withheld because no child was present at the incident or normally lives in the household, so Operation Encompass does not apply (R9)."
}

# The school is matched by its URN however the sender writes it.
test_the_school_is_matched_by_urn_however_written if {
	every urn in ["URN-999999", "999999", "urn: 999999", "URN 999999", "urn-999999", "URN999999"] {
		decision := _decide(_incident_with({"detail": {"school_urn": urn}}))["school-dsl"]
		decision.outcome == "PARTIAL"
		_fields(decision) == _encompass
	}
	written := object.union(data.safehub.subscribers, {"school-dsl": {"organisation": "999999"}})
	_decide_for(_sample("DOMESTIC_ABUSE_INCIDENT"), written)["school-dsl"].outcome == "PARTIAL"
}

test_only_the_childs_school_is_told if {
	every urn in ["URN-100000", "9999990", "URN-99999", null] {
		notice := _incident_with({"detail": {"school_urn": urn}})
		decision := _decide(notice)["school-dsl"]
		decision.outcome == "DENY"
		decision.explanation == "Withheld because the notice does not name this school as the child's school, so Operation Encompass does not send it here (R9)."
	}
}

# R9: the school the notice names; where it names none, the one an agency told the hub.
test_the_school_comes_from_the_context_when_the_notice_names_none if {
	unnamed := _incident_with({"detail": {"school_urn": null}})
	told := _context({"school_urn": "URN-999999"})
	decision := _decide_in(unnamed, told)["school-dsl"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _encompass
	decision.rule_ids == ["R14", "R15", "R2", "R9"]

	# Written another way, still this school.
	_decide_in(unnamed, _context({"school_urn": "999999"}))["school-dsl"].outcome == "PARTIAL"

	# The notice's own word wins: it names another school.
	other := _incident_with({"detail": {"school_urn": "URN-100000"}})
	_decide_in(other, told)["school-dsl"].outcome == "DENY"
	_decide_in(unnamed, _empty_context)["school-dsl"].outcome == "DENY"
}

test_unknown_age_with_a_school_known_to_the_hub_is_school_age if {
	unknown := _incident_with({"subject": {"age_years": null}, "detail": {"school_urn": null}})
	_decide_in(unknown, _context({"school_urn": "URN-999999"}))["school-dsl"].outcome == "PARTIAL"
	_decide_in(unknown, _empty_context)["school-dsl"].outcome == "DENY"
}
