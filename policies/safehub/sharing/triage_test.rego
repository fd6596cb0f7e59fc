package safehub.sharing_test

test_manager_sees_full_content_during_triage if {
	decision := _decide(_sample("SAFEGUARDING_CONTACT"))["mash-manager"]
	decision.outcome == "PERMIT"
	_fields(decision) == _sample_paths("SAFEGUARDING_CONTACT")
	decision.rule_ids == ["R1", "R2"]
	decision.purpose == "SAFEGUARDING_TRIAGE"
	decision.isa_clause == "ISA-4.1"
	decision.explanation == "Shared because any agency may tell the MASH about a child at risk, with or without consent (R1), and MASH decision makers see the full content during triage (R2)."
}

test_partner_researches_other_agencies_notices_without_the_full_account if {
	decision := _decide(_sample("SAFEGUARDING_CONTACT"))["mash-health-navigator"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _sample_paths("SAFEGUARDING_CONTACT") - {"narrative.full_account", "narrative.sensitivity"}
	decision.rule_ids == ["R1", "R15", "R2"]
	decision.explanation == concat("", [
		"Shared because MASH partners research their own agency's records on every notice sent to the MASH (R1, R2); ",
		"withheld the full account and the account's sensitivity marking because the full account is for MASH decision makers (R2).",
	])
}

test_partner_sees_own_agencys_notice_in_full if {
	decision := _decide(_sample("SAFEGUARDING_CONTACT"))["mash-police-researcher"]
	decision.outcome == "PERMIT"
	_fields(decision) == _sample_paths("SAFEGUARDING_CONTACT")
}

test_r1_notes_a_missing_reason_for_not_telling_the_family if {
	notice := _with(_sample("SAFEGUARDING_CONTACT"), {"family_informed": {"reason_not_informed": null}})
	decision := _decide(notice)["mash-manager"]
	decision.outcome == "PERMIT"
	endswith(decision.explanation, "(R2); note that the notice does not record why the family was not told (R1).")
}

test_r1_notes_a_missing_reason_for_not_seeking_consent if {
	notice := _with(_sample("SAFEGUARDING_CONTACT"), {"consent": {"reason_not_sought": ""}})
	endswith(
		_decide(notice)["mash-manager"].explanation,
		"(R2); note that the notice does not record why consent was not sought (R1).",
	)
}

test_r1_needs_no_note_when_the_family_was_told_and_consent_given if {
	notice := _with(_sample("SAFEGUARDING_CONTACT"), {
		"family_informed": {"informed": true, "reason_not_informed": null},
		"consent": {"status": "GIVEN", "reason_not_sought": null},
	})
	endswith(_decide(notice)["mash-manager"].explanation, "during triage (R2).")
}

test_firewall_keeps_account_and_reasoning_inside_the_mash if {
	decision := _decide(_sample("MASH_DECISION"))["responsible-la"]
	contains(decision.explanation, "withheld the decision rationale, the related notice ids, the full account and the account's sensitivity marking because the MASH is a firewall")
	every path in ["narrative.full_account", "narrative.sensitivity", "detail.rationale", "detail.related_notice_ids"] {
		not path in decision.permitted_fields
	}
}
