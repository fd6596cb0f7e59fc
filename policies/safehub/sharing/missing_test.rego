package safehub.sharing_test

_rhi := {
	"notice_id", "notice_type", "created_at", "subject.linkage_key", "subject.given_name",
	"subject.family_name", "subject.date_of_birth", "subject.la_child_id",
	"subject.exploitation_flagged", "detail.status", "detail.risk_grade", "detail.ended_at",
	"detail.return_interview_due_at", "detail.carer_contact",
}

_la_missing := _sample_paths("MISSING_EPISODE") - {"referrer", "third_parties", "narrative.full_account", "narrative.sensitivity"}

# An 'absent' (no apparent risk) episode of a child who is not flagged for exploitation, not
# looked after and not missing repeatedly.
_absent := _with(_sample("MISSING_EPISODE"), {"detail": {"risk_grade": "NO_APPARENT_RISK", "episodes_last_90_days": 1}})

_r8_note := "; the episode is graded 'absent' but the child is at risk of exploitation, is looked after or has gone missing repeatedly, so it is shared as a missing episode, not as no apparent risk (R8)"

# R8: an 'absent' episode is shared as missing for a child flagged for exploitation, a
# looked-after child, or a child missing three or more times in 90 days.
test_absent_episode_of_an_exploitation_flagged_child_is_shared_as_missing if {
	decisions := _decide(_with(_absent, {"subject": {"exploitation_flagged": true}}))
	la := decisions["responsible-la"]
	la.outcome == "PARTIAL"
	_fields(la) == _la_missing
	la.rule_ids == ["R14", "R15", "R2", "R7", "R8"]
	contains(la.explanation, concat("", ["(R7)", _r8_note, "; withheld"]))
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

test_absent_episode_of_a_looked_after_child_is_shared_as_missing if {
	notice := _with(_absent, {"subject": {"looked_after": true}})
	decisions := _decide(notice)
	decisions["responsible-la"].outcome == "PARTIAL"
	"R8" in decisions["responsible-la"].rule_ids
	decisions["return-interview-provider"].outcome == "PARTIAL"
}

test_repeated_absent_episodes_are_shared_as_missing if {
	every episodes, outcome in {"2": "DENY", "3": "PARTIAL", "7": "PARTIAL"} {
		notice := _with(_absent, {"detail": {"episodes_last_90_days": to_number(episodes)}})
		_decide(notice)["responsible-la"].outcome == outcome
	}
}

# The MASH manager sees an R8 child's absent episode as missing, not as no apparent risk.
test_manager_sees_an_r8_absent_episode_as_missing if {
	notice := _with(_absent, {"detail": {"episodes_last_90_days": 4}})
	manager := _decide(notice)["mash-manager"]
	manager.outcome == "PERMIT"
	manager.rule_ids == ["R1", "R2", "R8"]
	manager.explanation == concat("", [
		"Shared because any agency may tell the MASH about a child at risk, with or without consent (R1), ",
		"and MASH decision makers see the full content during triage (R2)", _r8_note, ".",
	])
	plain := _decide(_absent)["mash-manager"]
	plain.rule_ids == ["R1", "R2"]
	not contains(plain.explanation, "(R8)")
	graded := _decide(_sample("MISSING_EPISODE"))["mash-manager"]
	not "R8" in graded.rule_ids
}

test_absent_episode_of_a_child_not_at_risk_stays_in_the_mash if {
	decisions := _decide(_absent)
	decisions["mash-manager"].outcome == "PERMIT"
	every sid in ["responsible-la", "return-interview-provider"] {
		decisions[sid].outcome == "DENY"
		decisions[sid].rule_ids == ["R15", "R7", "R8"]
		decisions[sid].isa_clause == "ISA-5.1"
		decisions[sid].explanation == "Withheld because the episode is graded no apparent risk ('absent'), and the child is not at risk of exploitation, not looked after and not missing repeatedly, so it is recorded in the MASH but not notified as a missing episode (R7, R8)."
	}
}

# R7: the commissioned provider gets identifiers, return time, risk grade, exploitation flag
# and carer contact only: the R10 allow-list plus its commissioned view.
test_return_interview_provider_gets_only_what_it_needs_on_return if {
	decision := _decide(_sample("MISSING_EPISODE"))["return-interview-provider"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _rhi
	decision.purpose == "RETURN_HOME_INTERVIEW"
	decision.isa_clause == "ISA-5.1"
	"R7" in decision.rule_ids
	"R10" in decision.rule_ids
	decision.lawful_basis.statutory_gateway == "Children Act 2004 s10 and s11"
	decision.lawful_basis.recipient_basis == "UK GDPR Art 6(1)(e) public task, as a provider commissioned to carry out a public function"
	startswith(decision.explanation, "Shared because the child is back (found or returned), so the return home interview provider commissioned by the child's local authority gets what it needs to offer an interview within 72 hours (R7); ")
}

test_found_is_back_too if {
	notice := _with(_sample("MISSING_EPISODE"), {"detail": {"status": "FOUND"}})
	decisions := _decide(notice)
	decisions["responsible-la"].outcome == "PARTIAL"
	decisions["return-interview-provider"].outcome == "PARTIAL"
	_fields(decisions["return-interview-provider"]) == _rhi
}

test_reported_missing_goes_to_the_local_authority_but_not_the_return_interview_provider if {
	notice := _with(_sample("MISSING_EPISODE"), {"detail": {"status": "REPORTED", "ended_at": null, "return_interview_due_at": null}})
	decisions := _decide(notice)
	decisions["responsible-la"].outcome == "PARTIAL"
	decisions["return-interview-provider"].outcome == "DENY"
	decisions["return-interview-provider"].explanation == "Withheld because the return home interview provider is told only once the child is back (found or returned) (R7)."
}

# Nothing is invented when the return time is unknown.
test_unknown_return_time_is_not_invented if {
	notice := _with(_sample("MISSING_EPISODE"), {"detail": {"ended_at": null, "return_interview_due_at": null}})
	decision := _decide(notice)["return-interview-provider"]
	decision.outcome == "PARTIAL"
	_fields(decision) == _rhi - {"detail.ended_at", "detail.return_interview_due_at"}
}

# R7: only the provider commissioned by the child's responsible local authority.
test_a_provider_not_commissioned_for_the_childs_authority_gets_nothing if {
	decisions := _decide_for(_sample("MISSING_EPISODE"), _all_subscribers)
	decisions["return-interview-provider"].outcome == "PARTIAL"
	other := decisions["other-rhi-provider"]
	other.outcome == "DENY"
	other.rule_ids == ["R15", "R7"]
	other.isa_clause == "ISA-5.1"
	other.explanation == "Withheld because this return home interview provider is not the one commissioned by the child's local authority (R7)."
}

test_the_provider_follows_the_childs_authority if {
	notice := _with(_sample("MISSING_EPISODE"), {"subject": {"responsible_la": "LA-E09000001"}})
	decisions := _decide_for(notice, _all_subscribers) with data.safehub.rules.R7.commissioned_providers as {"LA-E09000001": ["VCS-SYN009"]}
	decisions["other-rhi-provider"].outcome == "PARTIAL"
	decisions["return-interview-provider"].outcome == "DENY"
	decisions["return-interview-provider"].explanation == "Withheld because this return home interview provider is not the one commissioned by the child's local authority (R7)."
	uncommissioned := _decide_for(notice, _all_subscribers)
	uncommissioned["other-rhi-provider"].outcome == "DENY"
	uncommissioned["return-interview-provider"].outcome == "DENY"
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

# R7: the placing authority is told only about a child it looks after.
test_placing_authority_of_a_child_not_looked_after_is_not_told if {
	notice := _with(_sample("MISSING_EPISODE"), {"subject": {"looked_after": false, "placing_la": "LA-E09000001"}})
	decision := _decide_for(notice, _all_subscribers)["placing-la"]
	decision.outcome == "DENY"
	decision.explanation == "Withheld because another local authority is responsible for the child."
}

test_placing_authority_gets_nothing_else if {
	notice := _with(_sample("MASH_DECISION"), {"subject": {"looked_after": true, "placing_la": "LA-E09000001"}})
	_decide_for(notice, _all_subscribers)["placing-la"].outcome == "DENY"
}

test_another_authoritys_child_is_not_sent_here if {
	notice := _with(_sample("MISSING_EPISODE"), {"subject": {"responsible_la": "LA-E09000001"}})
	decision := _decide(notice)["responsible-la"]
	decision.outcome == "DENY"
	decision.explanation == "Withheld because another local authority is responsible for the child."
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

# --- what any agency told the hub (input.context) ---------------------------------------------

_flagged_elsewhere := _context({"exploitation": {"flagged": true, "flagged_by": ["HEALTH"], "types": ["SEXUAL"]}})

# R8: a child another agency flagged for exploitation is at risk, whatever this notice says.
test_absent_episode_of_a_child_another_agency_flagged_is_shared_as_missing if {
	decisions := _decide_in(_absent, _flagged_elsewhere)
	contains(decisions["responsible-la"].explanation, concat("", ["(R7)", _r8_note, "; withheld"]))
	manager := decisions["mash-manager"]
	manager.rule_ids == ["R1", "R2", "R8"]
	endswith(manager.explanation, concat("", [_r8_note, "."]))
	every sid in ["responsible-la", "return-interview-provider"] {
		decisions[sid].outcome == "PARTIAL"
		"R8" in decisions[sid].rule_ids
	}
}

# R8: looked after as another agency told the hub.
test_absent_episode_of_a_child_looked_after_by_the_context_is_shared_as_missing if {
	decisions := _decide_in(_absent, _context({"looked_after": true}))
	decisions["responsible-la"].outcome == "PARTIAL"
	"R8" in decisions["responsible-la"].rule_ids
	_decide_in(_absent, _context({"looked_after": false}))["responsible-la"].outcome == "DENY"
}

# R8: repeat episodes reported by different agencies: three distinct episodes (this one
# counted once, however many agencies reported it) within the 90 days before this one.
test_repeat_absences_reported_by_different_agencies_are_shared_as_missing if {
	this_one := [
		_episode("POLICE", "2026-11-19T08:00:00.000+00:00", "this"),
		_episode("CHILDRENS_SERVICES", "2026-11-19T08:00:00.000+00:00", "this, logged by CSC"),
	]
	earlier := [
		_episode("CHILDRENS_SERVICES", "2026-10-01T10:00:00.000+00:00", "csc"),
		_episode("VOLUNTARY_SECTOR", "2026-11-10T21:00:00.000+00:00", "charity"),
	]
	three := _context({"missing_episodes": array.concat(this_one, earlier)})
	decisions := _decide_in(_absent, three)
	decisions["responsible-la"].outcome == "PARTIAL"
	"R8" in decisions["responsible-la"].rule_ids
	decisions["return-interview-provider"].outcome == "PARTIAL"

	# Two: this one (twice reported) and one other.
	two := _context({"missing_episodes": array.concat(this_one, [earlier[0]])})
	_decide_in(_absent, two)["responsible-la"].outcome == "DENY"

	# Episodes older than the window, or after this one, do not count.
	outside := _context({"missing_episodes": array.concat(this_one, [
		_episode("POLICE", "2026-08-01T10:00:00.000+00:00", "old"),
		_episode("POLICE", "2026-11-25T10:00:00.000+00:00", "later"),
	])})
	_decide_in(_absent, outside)["responsible-la"].outcome == "DENY"
}

# The notice's own fields still work beside an empty context.
test_the_notices_own_r8_reasons_still_count_beside_a_context if {
	flagged := _with(_absent, {"subject": {"exploitation_flagged": true}})
	_decide_in(flagged, _empty_context)["responsible-la"].outcome == "PARTIAL"
	repeated := _with(_absent, {"detail": {"episodes_last_90_days": 3}})
	_decide_in(repeated, _empty_context)["responsible-la"].outcome == "PARTIAL"
	_decide_in(_absent, _empty_context)["responsible-la"].outcome == "DENY"
}

# R7: the responsible authority the notice names; where it names none, the one an agency told
# the hub (rather than the hub's own).
test_the_responsible_authority_comes_from_the_context_when_the_notice_names_none if {
	unnamed := _with(_sample("MISSING_EPISODE"), {"subject": {"responsible_la": null}})
	elsewhere := _context({"responsible_la": "LA-E09000001"})
	decisions := _decide_for_in(unnamed, elsewhere, _all_subscribers)
	decisions["placing-la"].outcome == "PARTIAL"
	decisions["placing-la"].rule_ids == ["R14", "R15", "R2", "R7"]
	decisions["responsible-la"].outcome == "DENY"
	decisions["responsible-la"].explanation == "Withheld because another local authority is responsible for the child."

	# The notice's own word wins.
	named := _decide_for_in(_sample("MISSING_EPISODE"), elsewhere, _all_subscribers)
	named["responsible-la"].outcome == "PARTIAL"
	named["placing-la"].outcome == "DENY"
}

# R7: the placing authority of a child looked after as another agency told the hub.
test_the_placing_authority_comes_from_the_context_for_a_looked_after_child if {
	placed := _context({"looked_after": true, "placing_la": "LA-E09000001"})
	decisions := _decide_for_in(_sample("MISSING_EPISODE"), placed, _all_subscribers)
	decisions["placing-la"].outcome == "PARTIAL"
	decisions["responsible-la"].outcome == "PARTIAL"

	# Looked after by the notice, placed as the context says.
	looked_after := _with(_sample("MISSING_EPISODE"), {"subject": {"looked_after": true}})
	_decide_for_in(looked_after, _context({"placing_la": "LA-E09000001"}), _all_subscribers)["placing-la"].outcome == "PARTIAL"

	# Not looked after: a placing authority named anywhere is not told.
	not_looked_after := _context({"looked_after": false, "placing_la": "LA-E09000001"})
	_decide_for_in(_sample("MISSING_EPISODE"), not_looked_after, _all_subscribers)["placing-la"].outcome == "DENY"
}

# R7: the return home interview provider commissioned by the child's authority as the context
# names it.
test_the_provider_follows_the_authority_the_context_names if {
	unnamed := _with(_sample("MISSING_EPISODE"), {"subject": {"responsible_la": null}})
	decisions := _decide_for_in(unnamed, _context({"responsible_la": "LA-E09000001"}), _all_subscribers) with data.safehub.rules.R7.commissioned_providers as {"LA-E09000001": ["VCS-SYN009"]}
	decisions["other-rhi-provider"].outcome == "PARTIAL"
	decisions["return-interview-provider"].outcome == "DENY"
}
