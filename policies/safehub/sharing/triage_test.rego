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

# R1: partner research is for concerns (R1.partner_research_types), a medium or high risk or
# immediate danger; a routine status change or engagement update is for the manager alone.
test_partners_research_concerns_not_routine_updates if {
	every type in ["CSC_STATUS_CHANGE", "VCS_UPDATE"] {
		low := _with(_sample(type), {"risk": {"level": "LOW"}})
		decisions := _decide_for(low, _all_subscribers)
		decisions["mash-manager"].outcome == "PERMIT"
		every sid in ["mash-health-navigator", "mash-police-researcher", "vcs-mash-partner"] {
			decisions[sid].outcome == "DENY"
			decisions[sid].permitted_fields == []
		}
		every level in ["MEDIUM", "HIGH"] {
			risky := _decide(_with(_sample(type), {"risk": {"level": level}}))
			risky["mash-health-navigator"].outcome == "PARTIAL"
		}
		danger := _decide(_with(low, {"risk": {"immediate_danger": true}}))
		danger["mash-health-navigator"].outcome == "PARTIAL"
	}
	status := _decide(_with(_sample("CSC_STATUS_CHANGE"), {"risk": {"level": "LOW"}}))["mash-health-navigator"]
	status.explanation == "Withheld because no sharing rule gives the MASH health navigator a need to know about children's social care status change notices."
	contact := _decide(_with(_sample("SAFEGUARDING_CONTACT"), {"risk": {"level": "LOW"}}))
	contact["mash-health-navigator"].outcome == "PARTIAL"
	contact["mash-police-researcher"].outcome == "PERMIT"
}

# The partner's own agency's routine update is not for research either.
test_own_agency_partner_research_needs_a_concern_too if {
	low := _with(_sample("CSC_STATUS_CHANGE"), {"risk": {"level": "LOW"}})
	subscribers := {"csc-partner": _test_subscriber("CHILDRENS_SERVICES", "LA-E09000099", "MASH_SOCIAL_WORKER", true, ["SAFEGUARDING_TRIAGE"])}
	_decide_for(low, subscribers)["csc-partner"].outcome == "DENY"
	_decide_for(_sample("CSC_STATUS_CHANGE"), subscribers)["csc-partner"].outcome == "PERMIT"
}

_refused_no_risk := _with(_sample("SAFEGUARDING_CONTACT"), {
	"consent": {"status": "REFUSED", "reason_not_sought": null},
	"risk": {"level": "NO_APPARENT_RISK", "immediate_danger": false},
})

# R1: sharing without consent needs a risk of harm. Consent refused, no apparent risk, no
# immediate danger and no recorded reason: nobody gets it, not even the MASH.
test_consent_refused_without_risk_goes_to_nobody if {
	decisions := _decide_for(_refused_no_risk, _all_subscribers)
	every decision in decisions {
		decision.outcome == "DENY"
		decision.permitted_fields == []
		decision.lawful_basis == data.safehub.isa.no_disclosure
	}
	manager := decisions["mash-manager"]
	manager.rule_ids == ["R1", "R15"]
	manager.isa_clause == "ISA-4.1"
	manager.explanation == "Withheld because the family refused consent and the notice records no risk of harm and no reason to share without consent, so it is not shared (R1)."
}

test_consent_refused_is_overridden_by_risk_danger_or_a_recorded_reason if {
	every patch in [
		{"risk": {"level": "LOW"}},
		{"risk": {"immediate_danger": true}},
		{"consent": {"reason_not_sought": "The child is at risk of significant harm."}},
		{"consent": {"status": "NOT_SOUGHT"}},
	] {
		_decide(_with(_refused_no_risk, patch))["mash-manager"].outcome == "PERMIT"
	}
}

# A MASH decision is not triage: consent is the decision's business.
test_consent_refused_does_not_stop_a_mash_decision if {
	notice := _with(_sample("MASH_DECISION"), {
		"consent": {"status": "REFUSED", "reason_not_sought": null},
		"risk": {"level": "NO_APPARENT_RISK"},
	})
	_decide(notice)["mash-manager"].outcome == "PERMIT"
}

_danger_note := "; IMMEDIATE DANGER: the sender says the child is in immediate danger, so act now, not by the next working day"

_emergency_duty := (_sample_paths("SAFEGUARDING_CONTACT") - {"referrer", "third_parties"}) - {"narrative.full_account", "narrative.sensitivity"}

# Immediate danger while the MASH is closed goes to the emergency duty team of the child's
# local authority now. Opening hours are read in Europe/London.
test_immediate_danger_out_of_hours_goes_to_the_emergency_duty_team if {
	closed := [
		_mash_closed_at, # Thursday night
		"2026-11-20T16:45:00.000+00:00", # Friday after 16:30
		"2026-11-19T17:00:00.000+00:00", # Thursday 17:00, closing time
		"2026-11-19T08:59:00.000+00:00", # Thursday before 09:00
		"2026-11-21T12:00:00.000+00:00", # Saturday
		"2026-11-22T12:00:00.000+00:00", # Sunday
		"2026-12-25T11:00:00.000+00:00", # a closed date (a Friday)
		"2026-07-01T16:30:00.000+00:00", # Wednesday 17:30 British Summer Time
	]
	every at in closed {
		decision := _decide(_in_danger_at(_sample("SAFEGUARDING_CONTACT"), at))["emergency-duty-team"]
		decision.outcome == "PARTIAL"
		_fields(decision) == _emergency_duty
		decision.purpose == "IMMEDIATE_SAFEGUARDING"
		decision.isa_clause == "ISA-4.4"
		decision.rule_ids == ["R1", "R14", "R15", "R2"]
	}
}

test_immediate_danger_while_the_mash_is_open_stays_with_the_mash if {
	open := [
		_mash_open_at, # Friday morning
		"2026-11-19T09:00:00.000+00:00", # Thursday 09:00, opening time
		"2026-11-19T16:59:00.000+00:00", # Thursday just before closing
		"2026-07-01T08:30:00.000+00:00", # Wednesday 09:30 British Summer Time
	]
	every at in open {
		decision := _decide(_in_danger_at(_sample("SAFEGUARDING_CONTACT"), at))["emergency-duty-team"]
		decision.outcome == "DENY"
		decision.rule_ids == ["R15", "R2"]
	}
}

test_the_emergency_duty_team_acts_only_on_immediate_danger if {
	notice := _with(_sample("SAFEGUARDING_CONTACT"), {"created_at": _mash_closed_at})
	_decide(notice)["emergency-duty-team"].outcome == "DENY"
}

test_emergency_duty_decision_says_why if {
	decision := _decide(_in_danger_at(_sample("SAFEGUARDING_CONTACT"), _mash_closed_at))["emergency-duty-team"]
	decision.lawful_basis.statutory_gateway == "Children Act 2004 s11; Children Act 1989 s47; Crime and Disorder Act 1998 s115"
	decision.explanation == concat("", [
		"Shared because the sender says the child is in immediate danger and the MASH is closed, so the emergency duty team ",
		"of the child's local authority acts now (R1); withheld the referrer's identity and third parties' identities ",
		"because referrers and third parties could be harmed, so their identities are masked outside the MASH (R14); ",
		"withheld the full account and the account's sensitivity marking because the MASH is a firewall: ",
		"the full account and the MASH's internal reasoning stay inside it (R2).",
	])
}

# The emergency duty team of the child's own authority, matched by organisation.
test_only_the_childs_emergency_duty_team_is_told if {
	elsewhere := _test_subscriber("CHILDRENS_SERVICES", "LA-E09000001", "EMERGENCY_DUTY_TEAM", false, ["IMMEDIATE_SAFEGUARDING"])
	subscribers := object.union(data.safehub.subscribers, {"other-edt": elsewhere})
	ours := _decide_for(_in_danger_at(_sample("SAFEGUARDING_CONTACT"), _mash_closed_at), subscribers)
	ours["emergency-duty-team"].outcome == "PARTIAL"
	ours["other-edt"].outcome == "DENY"
	theirs := _with(_in_danger_at(_sample("SAFEGUARDING_CONTACT"), _mash_closed_at), {"subject": {"responsible_la": "LA-E09000001"}})
	decisions := _decide_for(theirs, subscribers)
	decisions["other-edt"].outcome == "PARTIAL"
	decisions["emergency-duty-team"].outcome == "DENY"
}

# Every decision inside the MASH that shares anything (in full, in part or as a flag) says
# the child is in immediate danger; outside the MASH nobody is told by this note.
test_immediate_danger_is_flagged_to_every_mash_recipient if {
	every type in ["SAFEGUARDING_CONTACT", "POLICE_INTELLIGENCE", "TRAFFICKING_NRM", "HEALTH_SAFEGUARDING_ALERT", "MISSING_EPISODE", "MASH_DECISION"] {
		decisions := _decide_for(_in_danger_at(_sample(type), _mash_open_at), _all_subscribers)
		every sid, decision in decisions {
			_danger_noted_inside(_all_subscribers[sid], decision)
		}
	}
	manager := _decide(_in_danger_at(_sample("SAFEGUARDING_CONTACT"), _mash_open_at))["mash-manager"]
	manager.outcome == "PERMIT"
	endswith(manager.explanation, concat("", ["(R2)", _danger_note, "."]))
	navigator := _decide(_in_danger_at(_sample("SAFEGUARDING_CONTACT"), _mash_open_at))["mash-health-navigator"]
	contains(navigator.explanation, concat("", ["(R1, R2)", _danger_note, "; withheld"]))
	flag := _decide(_in_danger_at(_sample("POLICE_INTELLIGENCE"), _mash_open_at))["mash-health-navigator"]
	flag.outcome == "FLAG_ONLY"
	endswith(flag.explanation, concat("", ["with whom to contact", _danger_note, "."]))
	calm := _decide(_sample("SAFEGUARDING_CONTACT"))["mash-manager"]
	not contains(calm.explanation, "IMMEDIATE DANGER")
}

_danger_noted_inside(sub, decision) if {
	sub.inside_mash == true
	decision.outcome != "DENY"
	contains(decision.explanation, _danger_note)
}

_danger_noted_inside(sub, decision) if {
	sub.inside_mash == true
	decision.outcome == "DENY"
}

_danger_noted_inside(sub, decision) if {
	sub.inside_mash == false
	not contains(decision.explanation, "IMMEDIATE DANGER")
}

# Route by relationship: the MASH manager's role outside the MASH makes no decision maker.
test_a_mash_manager_role_outside_the_mash_gets_nothing if {
	elsewhere := object.union(data.safehub.subscribers["mash-manager"], {"inside_mash": false, "organisation": "LA-ELSEWHERE"})
	subscribers := object.union(data.safehub.subscribers, {"elsewhere": elsewhere})
	every type in ["SAFEGUARDING_CONTACT", "POLICE_INTELLIGENCE", "TRAFFICKING_NRM", "HEALTH_SAFEGUARDING_ALERT"] {
		_decide_for(_sample(type), subscribers).elsewhere.outcome == "DENY"
	}
}
