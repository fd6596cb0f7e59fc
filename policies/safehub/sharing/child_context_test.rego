package safehub.sharing_test

# --- reading the context ----------------------------------------------------------------------

test_the_context_is_read_from_the_input if {
	context := _context({"looked_after": true})
	data.safehub.sharing._child_context == context with input as {"notice": _sample("MISSING_EPISODE"), "context": context}
}

# A tool that sends only the notice, or a context that is not an object: the child is one
# the hub knows nothing about.
test_without_a_context_the_child_is_unknown if {
	data.safehub.sharing._child_context == {} with input as {"notice": _sample("MISSING_EPISODE")}
	data.safehub.sharing._child_context == {} with input as {"notice": _sample("MISSING_EPISODE"), "context": "flagged"}
	_decide_in(_absent, {}) == _decide(_absent)
	_decide_in(_absent, null) == _decide(_absent)
	_decide_in(_absent, _empty_context) == _decide(_absent)
}

test_flagged_by_any_agency if {
	data.safehub.sharing._flagged_by_any_agency(_context({"exploitation": {"flagged": true, "flagged_by": ["HEALTH"]}}))
	not data.safehub.sharing._flagged_by_any_agency(_empty_context)
	not data.safehub.sharing._flagged_by_any_agency({})
}

test_looked_after_as_the_notice_or_any_agency_says if {
	looked_after := _with(_absent, {"subject": {"looked_after": true}})
	data.safehub.sharing._looked_after(looked_after, {})
	data.safehub.sharing._looked_after(_absent, _context({"looked_after": true}))
	not data.safehub.sharing._looked_after(_absent, _context({"looked_after": false}))
	not data.safehub.sharing._looked_after(_absent, {})
}

test_the_responsible_authority_is_the_notices_else_the_contexts_else_the_hubs_own if {
	named := _context({"responsible_la": "LA-E09000001"})
	data.safehub.sharing._child_responsible_la(_sample("MISSING_EPISODE"), named) == "LA-E09000099"
	unnamed := _with(_sample("MISSING_EPISODE"), {"subject": {"responsible_la": null}})
	data.safehub.sharing._child_responsible_la(unnamed, named) == "LA-E09000001"
	data.safehub.sharing._child_responsible_la(unnamed, _context({"responsible_la": ""})) == "LA-E09000099"
	data.safehub.sharing._child_responsible_la(unnamed, {}) == "LA-E09000099"
}

test_the_placing_authority_only_of_a_looked_after_child if {
	placed := _context({"looked_after": true, "placing_la": "LA-E09000001"})
	data.safehub.sharing._child_placing_la(_sample("MISSING_EPISODE"), placed) == "LA-E09000001"
	own := _with(_sample("MISSING_EPISODE"), {"subject": {"looked_after": true, "placing_la": "LA-E09000002"}})
	data.safehub.sharing._child_placing_la(own, placed) == "LA-E09000002"
	not data.safehub.sharing._child_placing_la(_sample("MISSING_EPISODE"), _context({"placing_la": "LA-E09000001"}))
	not data.safehub.sharing._child_placing_la(_sample("MISSING_EPISODE"), _context({"looked_after": true}))
}

test_the_school_is_the_notices_else_the_contexts if {
	known := _context({"school_urn": "URN-111111"})
	data.safehub.sharing._child_school_urn(_sample("DOMESTIC_ABUSE_INCIDENT"), known) == "URN-999999"
	unnamed := _with(_sample("DOMESTIC_ABUSE_INCIDENT"), {"detail": {"school_urn": null}})
	data.safehub.sharing._child_school_urn(unnamed, known) == "URN-111111"
	not data.safehub.sharing._child_school_urn(unnamed, {})
}

# The sample episode started 2026-11-19T08:00Z; the window is the 90 days before it.
test_episodes_are_counted_within_the_window_before_this_one_each_once if {
	episodes := [
		_episode("POLICE", "2026-11-19T08:00:00.000+00:00", "this"),
		_episode("CHILDRENS_SERVICES", "2026-11-19T08:00:00.000+00:00", "this, logged by CSC"),
		_episode("POLICE", "2026-10-01T10:00:00.000+00:00", "in"),
		_episode("CHILDRENS_SERVICES", "2026-08-21T08:00:00.000+00:00", "90 days before"),
		_episode("POLICE", "2026-08-21T07:59:59.000+00:00", "just outside"),
		_episode("POLICE", "2026-11-20T09:00:00.000+00:00", "after this one"),
		_episode("HEALTH", null, "no start"),
	]
	data.safehub.sharing._episodes_in_window(_sample("MISSING_EPISODE"), _context({"missing_episodes": episodes})) == 3
	data.safehub.sharing._episodes_in_window(_sample("MISSING_EPISODE"), {}) == 1
	data.safehub.sharing._episodes_in_window(_sample("MISSING_EPISODE"), {"missing_episodes": "six"}) == 1
	data.safehub.sharing._repeat_episodes(_sample("MISSING_EPISODE"), _context({"missing_episodes": episodes}))
	not data.safehub.sharing._repeat_episodes(_sample("MISSING_EPISODE"), _context({"missing_episodes": array.slice(episodes, 0, 3)}))
}

# --- nothing of the context is disclosed ----------------------------------------------------

# What another agency said decides, but a decision never says it: a decision made because
# another agency flagged the child reads exactly as one made because the notice did, and
# names neither the agency nor how many episodes there were.
test_a_decision_from_the_context_reads_as_one_from_the_notice if {
	flagged_by_health := _context({"exploitation": {"flagged": true, "flagged_by": ["HEALTH"], "types": ["SEXUAL"]}})
	from_context := _decide_in(_absent, flagged_by_health)
	from_notice := _decide(_with(_absent, {"subject": {"exploitation_flagged": true}}))
	from_context == from_notice
	repeat := _context({"missing_episodes": [
		_episode("HEALTH", "2026-10-01T10:00:00.000+00:00", "n1"),
		_episode("VOLUNTARY_SECTOR", "2026-11-01T10:00:00.000+00:00", "n2"),
	]})
	_decide_in(_absent, repeat) == from_notice
	_decide_in(_absent, _context({"looked_after": true})) == from_notice
	every _, decision in from_context {
		not contains(decision.explanation, "HEALTH")
		not contains(lower(decision.explanation), "health")
		not contains(decision.explanation, "flagged")
		not regex.match(`[0-9]+ (missing )?episodes`, decision.explanation)
	}
}

# Every sample notice, in every context: the recipients' decisions do not depend on who told
# the hub, only on what it was told.
test_who_told_the_hub_changes_no_decision if {
	told_by := {agency: _context({
		"exploitation": {"flagged": true, "flagged_by": [agency], "types": ["CRIMINAL"]},
		"missing_episodes": [
			_episode(agency, "2026-10-01T10:00:00.000+00:00", "n1"),
			_episode(agency, "2026-11-01T10:00:00.000+00:00", "n2"),
		],
		"looked_after": true, "placing_la": "LA-E09000001",
		"responsible_la": "LA-E09000001", "school_urn": "URN-111111",
	}) |
		some agency in ["POLICE", "HEALTH", "VOLUNTARY_SECTOR"]
	}
	every type in object.keys(data.safehub.isa.notice_types) {
		_decide_for_in(_sample(type), told_by.POLICE, _all_subscribers) == _decide_for_in(_sample(type), told_by.HEALTH, _all_subscribers)
		_decide_for_in(_sample(type), told_by.POLICE, _all_subscribers) == _decide_for_in(_sample(type), told_by.VOLUNTARY_SECTOR, _all_subscribers)
	}
}
