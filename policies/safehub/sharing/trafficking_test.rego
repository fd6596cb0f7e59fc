package safehub.sharing_test

# R12: the NRM referral and the exploitation account go to police, the LA and the manager only.
test_nrm_exploitation_account_is_restricted_to_police_the_la_and_the_manager if {
	decisions := _decide_for(_sample("TRAFFICKING_NRM"), _all_subscribers)
	decisions["mash-manager"].outcome == "PERMIT"
	decisions["mash-police-researcher"].purpose == "POLICING_SAFEGUARDING"
	decisions["responsible-la"].outcome == "PARTIAL"
	every sid in ["mash-manager", "mash-police-researcher", "responsible-la"] {
		"detail.exploitation_account" in decisions[sid].permitted_fields
		"R12" in decisions[sid].rule_ids
		decisions[sid].isa_clause == "ISA-5.5"
		startswith(decisions[sid].lawful_basis.statutory_gateway, "Modern Slavery Act 2015 s52; Children Act 2004 s11")
	}
	every sid in ["mash-health-navigator", "return-interview-provider", "school-dsl", "early-help-charity", "unscheduled-care", "placing-la"] {
		decisions[sid].outcome == "DENY"
		decisions[sid].permitted_fields == []
		decisions[sid].rule_ids == ["R12", "R15"]
		decisions[sid].explanation == "Withheld because trafficking (NRM) referrals and the child's exploitation account go only to police, the responsible local authority and the MASH manager (R12)."
	}
}

test_nrm_referral_reaches_police_whoever_made_it if {
	every agency in ["CHILDRENS_SERVICES", "VOLUNTARY_SECTOR"] {
		decision := _decide(_notice("TRAFFICKING_NRM", agency, "OFFICIAL"))["mash-police-researcher"]
		decision.outcome == "PERMIT"
		decision.rule_ids == ["R1", "R12", "R2"]
	}
}
