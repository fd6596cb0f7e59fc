package safehub.sharing_test

_confidential_contact := _with(_sample("SAFEGUARDING_CONTACT"), {"narrative": {"sensitivity": "POLICE_CONFIDENTIAL"}})

# The part a decision hides behind its rule id: R5 names the restriction only by "R5".
test_a_police_confidential_account_fires_its_restriction if {
	parts := data.safehub.sharing.rule_parts with input as {"notice": _confidential_contact}
	"police_confidential_account" in parts.restrictions
	"triage_decision_maker" in parts.grants
}

test_a_health_alert_does_not_fire_the_police_confidential_restriction if {
	parts := data.safehub.sharing.rule_parts with input as {"notice": _sample("HEALTH_SAFEGUARDING_ALERT")}
	not "police_confidential_account" in parts.restrictions
	"clinical" in parts.restrictions
}

# Fired means the conditions held, even where a veto then overrode the grant: handling code
# C vetoes sharing with everyone but police, and the triage grants still count as fired.
test_a_grant_overridden_by_a_veto_still_fired if {
	parts := data.safehub.sharing.rule_parts with input as {"notice": _intel_c}
	"handling_c" in parts.vetoes
	"triage_decision_maker" in parts.grants
}

test_refusals_are_named if {
	notice := _with(_sample("DOMESTIC_ABUSE_INCIDENT"), {"detail": {"children_present": false, "children_normally_resident": false}})
	parts := data.safehub.sharing.rule_parts with input as {"notice": notice}
	"encompass_no_child_present" in parts.refusals
}

test_the_context_is_read_as_for_decisions if {
	parts := data.safehub.sharing.rule_parts with input as {"notice": _sample("SAFEGUARDING_CONTACT"), "context": _empty_context}
	parts.grants == sort(parts.grants)
	count(parts.grants) > 0
}

test_an_unusable_notice_exercises_no_part if {
	parts := data.safehub.sharing.rule_parts with input as {"notice": {"notice_type": "NOT_A_TYPE"}}
	parts == {"grants": [], "restrictions": [], "vetoes": [], "refusals": []}
}

test_each_part_named_is_one_in_the_rules_data if {
	parts := data.safehub.sharing.rule_parts with input as {"notice": _sample("POLICE_INTELLIGENCE")}
	every kind, names in parts {
		every name in names {
			data.safehub.rules[kind][name]
		}
	}
}
