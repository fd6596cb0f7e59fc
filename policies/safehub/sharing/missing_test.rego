package safehub.sharing_test

_rhi := {
	"notice_id", "notice_type", "created_at", "subject.linkage_key", "subject.given_name",
	"subject.family_name", "subject.date_of_birth", "subject.la_child_id",
	"subject.exploitation_flagged", "detail.risk_grade", "detail.ended_at",
	"detail.return_interview_due_at", "detail.carer_contact",
}

_la_missing := _sample_paths("MISSING_EPISODE") - {"referrer", "third_parties", "narrative.full_account", "narrative.sensitivity"}

_absent := _with(_sample("MISSING_EPISODE"), {"detail": {"risk_grade": "NO_APPARENT_RISK"}})

# R8: an 'absent' episode of a child flagged for exploitation is shared as missing.
test_absent_episode_of_an_exploitation_flagged_child_is_shared_as_missing if {
	decisions := _decide(_with(_absent, {"subject": {"exploitation_flagged": true}}))
	la := decisions["responsible-la"]
	la.outcome == "PARTIAL"
	_fields(la) == _la_missing
	la.rule_ids == ["R14", "R15", "R2", "R7", "R8"]
	contains(la.explanation, "(R7); the episode is graded 'absent' but the child is at risk of exploitation, so it is shared as a missing episode (R8); withheld")
	rhi := decisions["return-interview-provider"]
	rhi.outcome == "PARTIAL"
	_fields(rhi) == _rhi
	"R8" in rhi.rule_ids
}

test_absent_episode_with_an_exploitation_concern_is_shared_as_missing if {
	notice := _with(_absent, {"concerns": [{"code": "COUNTY_LINES", "census_factor": "24A"}]})
	decisions := _decide(notice)
	decisions["responsible-la"].outcome == "PARTIAL"
	"R8" in decisions["responsible-la"].rule_ids
}

test_absent_episode_of_a_child_not_at_risk_of_exploitation_stays_in_the_mash if {
	decisions := _decide(_absent)
	decisions["mash-manager"].outcome == "PERMIT"
	every sid in ["responsible-la", "return-interview-provider"] {
		decisions[sid].outcome == "DENY"
		decisions[sid].rule_ids == ["R15", "R7", "R8"]
		decisions[sid].isa_clause == "ISA-5.1"
		decisions[sid].explanation == "Withheld because the episode is graded no apparent risk ('absent') and the child is not at risk of exploitation, so it is recorded in the MASH but not notified as a missing episode (R7, R8)."
	}
}

test_return_interview_provider_gets_only_what_it_needs_on_return if {
	decision := _decide(_sample("MISSING_EPISODE"))["return-interview-provider"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _rhi
	decision.purpose == "RETURN_HOME_INTERVIEW"
	decision.rule_ids == ["R10", "R14", "R15", "R2", "R7"]
	decision.lawful_basis.statutory_gateway == "Children Act 2004 s10 and s11; Crime and Disorder Act 1998 s115"
	endswith(decision.explanation, "withheld everything else because the provider gets only identifiers, return time, risk grade, exploitation flag and carer contact (R7).")
}

test_reported_missing_goes_to_the_local_authority_but_not_the_return_interview_provider if {
	notice := _with(_sample("MISSING_EPISODE"), {"detail": {"status": "REPORTED", "ended_at": null, "return_interview_due_at": null}})
	decisions := _decide(notice)
	decisions["responsible-la"].outcome == "PARTIAL"
	decisions["return-interview-provider"].outcome == "DENY"
	decisions["return-interview-provider"].explanation == "Withheld because the return home interview provider is told only once the child has returned (R7)."
}

test_found_goes_to_the_local_authority if {
	notice := _with(_sample("MISSING_EPISODE"), {"detail": {"status": "FOUND"}})
	_decide(notice)["responsible-la"].outcome == "PARTIAL"
}

test_placing_authority_of_a_looked_after_child_is_told if {
	notice := _with(_sample("MISSING_EPISODE"), {"subject": {"looked_after": true, "placing_la": "LA-E09000001"}})
	decisions := _decide_for(notice, _all_subscribers)
	decisions["placing-la"].outcome == "PARTIAL"
	_fields(decisions["placing-la"]) == _la_missing | {"subject.placing_la"}
	decisions["placing-la"].purpose == "LOOKED_AFTER_CARE"
	decisions["responsible-la"].purpose == "LOOKED_AFTER_CARE"
}

test_placing_authority_gets_nothing_else if {
	notice := _with(_sample("MASH_DECISION"), {"subject": {"placing_la": "LA-E09000001"}})
	_decide_for(notice, _all_subscribers)["placing-la"].outcome == "DENY"
}

test_another_authoritys_child_is_not_sent_here if {
	notice := _with(_sample("MISSING_EPISODE"), {"subject": {"responsible_la": "LA-E09000001"}})
	decision := _decide(notice)["responsible-la"]
	decision.outcome == "DENY"
	decision.explanation == "Withheld because the notice names another local authority as responsible for the child."
}

test_without_a_named_responsible_authority_the_local_authority_is_told if {
	notice := _with(_sample("MISSING_EPISODE"), {"subject": {"responsible_la": null}})
	_decide(notice)["responsible-la"].outcome == "PARTIAL"
	other := _with(notice, {"subject": {"responsible_la": "LA-E09000001"}})
	_decide_for(other, _all_subscribers)["placing-la"].outcome == "PARTIAL"
}

test_return_interview_outcome_goes_to_the_local_authority if {
	notice := _with(_sample("VCS_UPDATE"), {"detail": {"kind": "RETURN_INTERVIEW_OUTCOME"}})
	decision := _decide(notice)["responsible-la"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _sample_paths("VCS_UPDATE") - {"referrer", "third_parties", "narrative.full_account", "narrative.sensitivity"}
	decision.rule_ids == ["R14", "R15", "R2", "R7"]
}
