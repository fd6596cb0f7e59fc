package safehub.sharing_test

# R14: referrer and third-party identities are masked for everyone outside the MASH.
test_referrer_identity_is_masked_outside_the_mash if {
	notices := [_sample(type) | some type in object.keys(data.safehub.isa.notice_types)]
	every notice in notices {
		decisions := _decide_for(notice, _all_subscribers)
		every sid, decision in decisions {
			_masked_if_outside(_all_subscribers[sid], decision)
		}
	}
}

_masked_if_outside(sub, _) if sub.inside_mash == true

_masked_if_outside(sub, decision) if {
	sub.inside_mash == false
	not "referrer" in decision.permitted_fields
	not "third_parties" in decision.permitted_fields
	not "detail.referral_source" in decision.permitted_fields
}

test_masking_is_explained if {
	decision := _decide(_sample("MISSING_EPISODE"))["responsible-la"]
	"R14" in decision.rule_ids
	contains(decision.explanation, "withheld the referrer's identity and third parties' identities because referrers and third parties could be harmed, so their identities are masked outside the MASH (R14)")
}

test_masking_is_not_claimed_when_nobody_is_named if {
	notice := _with(_sample("MISSING_EPISODE"), {"referrer": null, "third_parties": []})
	decision := _decide(notice)["responsible-la"]
	not "R14" in decision.rule_ids
	not contains(decision.explanation, "R14")
}

# A CIN referral's source (census N00152: "1B" is a family member) points to the person who
# referred, so it is masked as the referrer is; the MASH sees it for triage.
test_referral_source_is_masked_outside_the_mash_and_seen_inside if {
	decisions := _decide(_sample("CSC_STATUS_CHANGE"))
	"detail.referral_source" in decisions["mash-manager"].permitted_fields
	every sid, decision in decisions {
		_masked_if_outside(_all_subscribers[sid], decision)
	}
	some sid, decision in decisions
	_all_subscribers[sid].inside_mash == false
	contains(decision.explanation, "who referred the child (the referral source)")
}

test_referrer_stays_visible_inside_the_mash if {
	decisions := _decide(_sample("SAFEGUARDING_CONTACT"))
	every sid in ["mash-manager", "mash-health-navigator", "mash-police-researcher"] {
		"referrer" in decisions[sid].permitted_fields
		"third_parties" in decisions[sid].permitted_fields
	}
}
