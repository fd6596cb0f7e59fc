package safehub.sharing_test

_nrm_reason := "trafficking (NRM) referrals and the child's exploitation account go only to police in the MASH, the child's local authority and the MASH manager (R12)"

# A looked-after child placed here by another authority.
_nrm_looked_after := _with(_sample("TRAFFICKING_NRM"), {"subject": {"looked_after": true, "placing_la": "LA-E09000001"}})

# R12: the NRM referral and the exploitation account go to police in the MASH, the child's
# local authority (and the placing authority of a looked-after child) and the manager only;
# others in the MASH see a flag that names no service, everyone outside gets nothing.
test_nrm_exploitation_account_is_restricted_to_police_the_la_and_the_manager if {
	decisions := _decide_for(_nrm_looked_after, _all_subscribers)
	decisions["mash-manager"].outcome == "PERMIT"
	decisions["mash-police-researcher"].purpose == "POLICING_SAFEGUARDING"
	decisions["responsible-la"].outcome == "PARTIAL"
	decisions["placing-la"].outcome == "PARTIAL"
	decisions["responsible-la"].lawful_basis.statutory_gateway == "Children Act 2004 s11; Children Act 1989 s47; Crime and Disorder Act 1998 s115"
	every sid in ["mash-manager", "mash-police-researcher", "responsible-la", "placing-la"] {
		"detail.exploitation_account" in decisions[sid].permitted_fields
		"R12" in decisions[sid].rule_ids
		decisions[sid].isa_clause == "ISA-5.5"
		not contains(decisions[sid].lawful_basis.statutory_gateway, "Modern Slavery Act")
	}
	navigator := decisions["mash-health-navigator"]
	navigator.outcome == "FLAG_ONLY"
	_fields(navigator) == _generic_flag
	navigator.rule_ids == ["R12", "R15"]
	navigator.explanation == concat("", [
		"Withheld because ", _nrm_reason,
		"; only a flag that a referral about this child is held by the MASH manager and police is shared, with whom to contact.",
	])
	every sid in ["return-interview-provider", "school-dsl", "early-help-charity", "unscheduled-care", "emergency-duty-team", "police-safeguarding-team", "health-safeguarding-team", "cpis-register"] {
		decisions[sid].outcome == "DENY"
		decisions[sid].permitted_fields == []
		decisions[sid].rule_ids == ["R12", "R15"]
		decisions[sid].explanation == concat("", ["Withheld because ", _nrm_reason, "."])
	}
}

# Police are told in the MASH; police outside the MASH are not.
test_police_outside_the_mash_do_not_get_the_nrm if {
	decision := _decide(_sample("TRAFFICKING_NRM"))["police-safeguarding-team"]
	decision.outcome == "DENY"
	decision.rule_ids == ["R12", "R15"]
}

# The placing authority only of a looked-after child.
test_nrm_reaches_the_placing_authority_only_of_a_looked_after_child if {
	notice := _with(_sample("TRAFFICKING_NRM"), {"subject": {"looked_after": false, "placing_la": "LA-E09000001"}})
	decision := _decide_for(notice, _all_subscribers)["placing-la"]
	decision.outcome == "DENY"
	decision.rule_ids == ["R12", "R15"]
	placed := _decide_for(_nrm_looked_after, _all_subscribers)["placing-la"]
	placed.purpose == "LOOKED_AFTER_CARE"
	_fields(placed) == (_sample_paths("TRAFFICKING_NRM") | {"subject.placing_la"}) - {"referrer", "third_parties", "narrative.full_account", "narrative.sensitivity"}
}

test_nrm_referral_reaches_police_whoever_made_it if {
	every agency in ["CHILDRENS_SERVICES", "VOLUNTARY_SECTOR"] {
		decision := _decide(_notice("TRAFFICKING_NRM", agency, "OFFICIAL"))["mash-police-researcher"]
		decision.outcome == "PERMIT"
		decision.rule_ids == ["R1", "R12", "R2"]
	}
}

# A charity's update that is an NRM referral is an NRM referral (R12).
test_a_charitys_nrm_referral_update_is_an_nrm_referral if {
	notice := _with(_sample("VCS_UPDATE"), {"detail": {"kind": "NRM_REFERRAL"}})
	decisions := _decide_for(notice, _all_subscribers)
	decisions["responsible-la"].outcome == "PARTIAL"
	decisions["responsible-la"].isa_clause == "ISA-5.5"
	decisions["mash-health-navigator"].outcome == "FLAG_ONLY"
	_fields(decisions["mash-health-navigator"]) == _generic_flag
	every sid in ["mash-manager", "mash-police-researcher"] {
		decisions[sid].outcome == "PERMIT"
		"R12" in decisions[sid].rule_ids
	}
	every sid in ["early-help-charity", "return-interview-provider", "police-safeguarding-team"] {
		decisions[sid].outcome == "DENY"
		decisions[sid].rule_ids == ["R12", "R15"]
	}
	engagement := _decide(_sample("VCS_UPDATE"))
	engagement["responsible-la"].outcome == "DENY"
	engagement["mash-health-navigator"].outcome == "PARTIAL"
}

# R12: the child's local authorities as for R7: the notice's, else what an agency told the hub.
test_nrm_reaches_the_authorities_the_context_names if {
	unnamed := _with(_sample("TRAFFICKING_NRM"), {"subject": {"responsible_la": null}})
	decisions := _decide_for_in(unnamed, _context({"responsible_la": "LA-E09000001"}), _all_subscribers)
	decisions["placing-la"].outcome == "PARTIAL"
	"detail.exploitation_account" in decisions["placing-la"].permitted_fields
	decisions["responsible-la"].outcome == "DENY"
	decisions["responsible-la"].rule_ids == ["R12", "R15"]

	placed := _context({"looked_after": true, "placing_la": "LA-E09000001"})
	looked_after := _decide_for_in(_sample("TRAFFICKING_NRM"), placed, _all_subscribers)
	looked_after["placing-la"].outcome == "PARTIAL"
	looked_after["responsible-la"].outcome == "PARTIAL"
}
