package safehub.sharing_test

test_withheld_fields_without_a_label_are_named_by_path if {
	decision := _decide(_sample("SAFEGUARDING_CONTACT"))["mash-health-navigator"] with data.safehub.fields.labels as {}
	endswith(decision.explanation, "withheld narrative.full_account and narrative.sensitivity because the full account is for MASH decision makers (R2).")
}

test_a_single_withheld_field_is_named_alone if {
	decision := _decide(_with(_sample("SAFEGUARDING_CONTACT"), {"secret_extra": "x"}))["mash-manager"]
	endswith(decision.explanation, "(R2); withheld secret_extra because they are not fields the sharing rules know (fail closed).")
}

# A silent restriction withholds without saying so (naming what it removed would point at a
# source), while a restriction that is not silent is still named beside it.
test_silent_restrictions_are_not_named if {
	notice := _with(_sample("POLICE_INTELLIGENCE"), {"secret_extra": "x"})
	decision := _decide(notice)["mash-manager"]
	decision.outcome == "PARTIAL"
	not "detail.source_details" in decision.permitted_fields
	not "referrer" in decision.permitted_fields
	endswith(decision.explanation, "(R5); withheld secret_extra because they are not fields the sharing rules know (fail closed).")
	not contains(decision.explanation, "source")
	not contains(decision.explanation, "referrer")
	every id in ["source_identity", "intelligence_source"] {
		data.safehub.rules.restrictions[id].silent == true
	}
}

test_many_fields_outside_a_view_are_summarised if {
	decision := _decide(_sample("DOMESTIC_ABUSE_INCIDENT"))["school-dsl"]
	contains(decision.explanation, "; withheld everything else because Operation Encompass")
}

test_every_rule_data_entry_is_complete if {
	every id, grant in data.safehub.rules.grants {
		data.safehub.rules.views[grant.view]
		data.safehub.isa.lawful_bases[grant.basis]
		data.safehub.isa.clauses[grant.isa_clause]
		every purpose in grant.purposes {
			purpose in object.keys(data.safehub.isa.purposes)
		}
		is_number(grant.priority)
		is_string(grant.reason)
		is_string(grant.scope_reason)
		is_string(id)
	}
	every veto in data.safehub.rules.vetoes {
		data.safehub.isa.clauses[veto.isa_clause]
		_flag_ready(veto)
	}
	every refusal in data.safehub.rules.refusals {
		data.safehub.isa.clauses[refusal.isa_clause]
	}
	every routing in data.safehub.rules.R11.local_authority_outcomes {
		data.safehub.isa.lawful_bases[routing.basis]
	}
}

_flag_ready(veto) if veto.flag_inside == false

_flag_ready(veto) if {
	veto.flag_inside == true
	data.safehub.isa.lawful_bases[veto.basis]
	is_string(veto.flag)
	count(veto.purposes) > 0
}

test_every_rule_id_used_is_a_rule if {
	used := {rule |
		some section in ["grants", "vetoes", "refusals", "restrictions"]
		some entry in data.safehub.rules[section]
		some rule in entry.rule_ids
	}
	every rule in used {
		data.safehub.isa.rules[rule]
	}
}
