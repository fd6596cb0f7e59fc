# MASH decisions and onward routing (R2, R11)
#
# The MASH's own decisions are seen in full inside the MASH. Outside, only the decision
# summary needed for action leaves: to the responsible local authority for a child in need
# assessment, s47 strategy discussion, immediate protection or an open case; to the early
# help lead professional for early help. R11 early help needs the family's recorded
# agreement (otherwise nothing leaves the MASH); s47 and immediate protection do not.
#
# References:
#   https://www.legislation.gov.uk/ukpga/1989/41/section/47
#     Children Act 1989 s47; ISA clause 5.4
#   https://www.legislation.gov.uk/ukpga/1989/41/section/17
#     Children Act 1989 s17
#   https://www.gov.uk/government/publications/working-together-to-safeguard-children--2
#     Working Together 2023, early help with the family's agreement
package safehub.sharing

_mash_decision(notice) if notice.notice_type == "MASH_DECISION"

_agreement_missing(notice) if {
	notice.detail.outcome in data.safehub.rules.R11.agreement_required_outcomes
	not _family_agreed(notice)
}

_family_agreed(notice) if notice.detail.family_agreement == true

_routed_to_local_authority(notice) if data.safehub.rules.R11.local_authority_outcomes[notice.detail.outcome]

# METADATA
# title: R2 MASH staff see MASH decisions in full
# description: Every subscriber inside the MASH sees the decision in full.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/working-together-to-safeguard-children--2
#     description: Working Together 2023; ISA clause 5.4
_grants[sid] contains _grant("mash_decision_inside", sid) if {
	_mash_decision(_notice)
	some sid, sub in data.safehub.subscribers
	_inside_mash(sub)
}

# METADATA
# title: R2/R11 decisions needing local authority action
# description: >-
#   Outcomes listed in data.safehub.rules.R11.local_authority_outcomes go to the responsible
#   local authority, each with its own lawful basis; s47 and immediate protection need no
#   family agreement.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/1989/41/section/47
#     description: Children Act 1989 s47; ISA clause 5.4
_grants[sid] contains object.union(
	_grant("mash_decision_local_authority", sid),
	{"basis": routing.basis, "rule_ids": routing.rule_ids, "reason": routing.reason},
) if {
	_mash_decision(_notice)
	routing := data.safehub.rules.R11.local_authority_outcomes[_notice.detail.outcome]
	some sid, sub in data.safehub.subscribers
	_responsible_authority(sub)
}

# METADATA
# title: R10/R11 early help with the family's agreement
# description: >-
#   The early help lead professional of the organisation the decision names
#   (detail.early_help_organisation) gets the voluntary sector minimum.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2004/31/section/10
#     description: Children Act 2004 s10; ISA clause 5.3
_grants[sid] contains _grant("mash_decision_early_help", sid) if {
	_mash_decision(_notice)
	_notice.detail.outcome in data.safehub.rules.R11.early_help_outcomes
	_family_agreed(_notice)
	some sid, sub in data.safehub.subscribers
	_early_help_worker(sub)
	sub.organisation == _notice.detail.early_help_organisation
}

# METADATA
# title: R2 the referring agency hears the outcome
# description: >-
#   Each organisation the decision names as a referrer (detail.referring_organisations) gets
#   the outcome only, through its safeguarding team; never the rationale.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/working-together-to-safeguard-children--2
#     description: Working Together 2023, feedback to referrers; ISA clause 5.4
_grants[sid] contains _grant("referrer_feedback", sid) if {
	_mash_decision(_notice)
	some sid, sub in data.safehub.subscribers
	_feedback_team(sub)
	sub.organisation in _notice.detail.referring_organisations
}

# METADATA
# title: R11 immediate protection to the police
# description: >-
#   An immediate protection decision goes to the police force that is the MASH's partner
#   (police protection, Children Act 1989 s46) without the family's agreement.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/1989/41/section/46
#     description: Children Act 1989 s46; ISA clause 5.4
_grants[sid] contains _grant("mash_decision_police", sid) if {
	_mash_decision(_notice)
	_notice.detail.outcome in data.safehub.rules.R11.police_outcomes
	some sid, sub in data.safehub.subscribers
	_police(sub)
	_outside_mash(sub)
	sub.organisation in data.safehub.rules.R11.immediate_protection_police_organisations
}

_feedback_team(sub) if sub.role in data.safehub.rules.feedback.roles

# METADATA
# title: R11 early help without the family's agreement is not routed
# description: Nothing about the decision leaves the MASH.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/working-together-to-safeguard-children--2
#     description: Working Together 2023, early help is voluntary; ISA clause 5.4
_vetoes[sid] contains _veto("early_help_without_agreement", sid, sub) if {
	_mash_decision(_notice)
	_agreement_missing(_notice)
	some sid, sub in data.safehub.subscribers
	_outside_mash(sub)
	not _feedback_team(sub)
}

# METADATA
# title: R2 decisions that need no local authority action
# description: Explains why the local authority gets nothing about, for example, no further action.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/working-together-to-safeguard-children--2
#     description: Working Together 2023; ISA clause 5.4
_refusals[sid] contains _refusal("mash_decision_not_routed", sid) if {
	_mash_decision(_notice)
	not _routed_to_local_authority(_notice)
	some sid, sub in data.safehub.subscribers
	_responsible_authority(sub)
}
