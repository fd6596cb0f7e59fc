# Missing children (R7, R8)
#
# R7 a missing episode (reported, found or returned) goes to the MASH and to the local
# authority responsible for the child, and to the placing local authority of a looked-after
# child placed out of area; on return the return home interview provider gets identifiers,
# return time, risk grade, exploitation flag and carer contact only. R8 an 'absent' (no
# apparent risk) episode of a child at risk of exploitation is shared as missing; an absent
# episode of any other child stays in the MASH.
#
# References:
#   https://www.gov.uk/government/publications/children-who-run-away-or-go-missing-from-home-or-care
#     Statutory guidance on children who run away or go missing from home or care; ISA clause 5.1
#   https://www.legislation.gov.uk/ukpga/2004/31/section/11
#     Children Act 2004 s11
package safehub.sharing

_missing(notice) if notice.notice_type == "MISSING_EPISODE"

_absent(notice) if notice.detail.risk_grade in data.safehub.rules.R8.absent_grades

# At risk of exploitation: flagged for CSE/CCE, or the notice itself raises exploitation.
_exploitation_risk(notice) if notice.subject.exploitation_flagged == true

_exploitation_risk(notice) if {
	some concern in notice.concerns
	concern.code in data.safehub.rules.R8.exploitation_concerns
}

# R8: an absent episode is a missing episode for a child at risk of exploitation, a
# looked-after child, or a child missing repeatedly.
_r8_risk(notice) if _exploitation_risk(notice)

_r8_risk(notice) if notice.subject.looked_after == true

_r8_risk(notice) if notice.detail.episodes_last_90_days >= data.safehub.rules.R8.repeat_threshold

_treated_as_missing(notice) if not _absent(notice)

_treated_as_missing(notice) if _r8_risk(notice)

_r8_applies(notice) if {
	_absent(notice)
	_r8_risk(notice)
}

_missing_extra(notice) := {"note": data.safehub.rules.R8.note, "rule_ids": ["R8"]} if {
	_r8_applies(notice)
} else := {}

_authority_for_missing(sub, _) if _responsible_authority(sub)

_authority_for_missing(sub, notice) if _placing_authority(sub, notice)

_return_interviewer(sub) if _has_role(sub, data.safehub.rules.R7.return_interview_roles)

# The provider commissioned by the child's responsible local authority, not every provider.
_commissioned_provider(sub) if {
	_return_interviewer(sub)
	sub.organisation in object.get(data.safehub.rules.R7.commissioned_providers, _responsible_la, [])
}

_returned(notice) if notice.detail.status in data.safehub.rules.R7.return_statuses

# METADATA
# title: R7/R8 the responsible (and placing) local authority is told of a missing episode
# description: >-
#   Reported, found or returned, unless the episode is 'absent' for a child not at risk of
#   exploitation (R8).
# related_resources:
#   - ref: https://www.gov.uk/government/publications/children-who-run-away-or-go-missing-from-home-or-care
#     description: Missing children guidance; ISA clause 5.1
_grants[sid] contains object.union(_grant("missing_local_authority", sid), _missing_extra(_notice)) if {
	_missing(_notice)
	_notice.detail.status in data.safehub.rules.R7.notify_statuses
	_treated_as_missing(_notice)
	some sid, sub in data.safehub.subscribers
	_authority_for_missing(sub, _notice)
}

# METADATA
# title: R7/R8 the commissioned return home interview provider is told when the child is back
# description: >-
#   Found or returned: the provider commissioned by the child's responsible local authority
#   gets identifiers, return time, risk grade, exploitation flag and carer contact only.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/children-who-run-away-or-go-missing-from-home-or-care
#     description: Return home interviews within 72 hours; ISA clause 5.1
_grants[sid] contains object.union(_grant("missing_return_interview", sid), _missing_extra(_notice)) if {
	_missing(_notice)
	_returned(_notice)
	_treated_as_missing(_notice)
	some sid, sub in data.safehub.subscribers
	_commissioned_provider(sub)
}

# METADATA
# title: R7 the outcome of a return home interview goes to the local authority
# description: A voluntary sector RETURN_INTERVIEW_OUTCOME update goes to the responsible local authority.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/children-who-run-away-or-go-missing-from-home-or-care
#     description: Return home interviews; ISA clause 5.1
_grants[sid] contains _grant("return_interview_outcome_local_authority", sid) if {
	_notice.notice_type == "VCS_UPDATE"
	_notice.detail.kind in data.safehub.rules.R7.return_interview_outcome_kinds
	some sid, sub in data.safehub.subscribers
	_responsible_authority(sub)
}

# METADATA
# title: R7 another provider
# description: >-
#   Explains why a return home interview provider not commissioned for the child's local
#   authority gets nothing.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/children-who-run-away-or-go-missing-from-home-or-care
#     description: Return home interviews are commissioned by the local authority; ISA clause 5.1
_refusals[sid] contains _refusal("rhi_not_commissioned", sid) if {
	_missing(_notice)
	some sid, sub in data.safehub.subscribers
	_return_interviewer(sub)
	not _commissioned_provider(sub)
}

# METADATA
# title: R7 the return home interview provider waits for the return
# description: Explains why the provider gets nothing while the child is still missing or only found.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/children-who-run-away-or-go-missing-from-home-or-care
#     description: Return home interviews; ISA clause 5.1
_refusals[sid] contains _refusal("return_not_yet", sid) if {
	_missing(_notice)
	not _returned(_notice)
	some sid, sub in data.safehub.subscribers
	_return_interviewer(sub)
}

# METADATA
# title: R7/R8 an absent episode stays in the MASH
# description: >-
#   No apparent risk and no exploitation risk: recorded in the MASH, not notified to the
#   local authority or the return home interview provider.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/children-who-run-away-or-go-missing-from-home-or-care
#     description: Missing children guidance; ISA clause 5.1
_refusals[sid] contains _refusal("missing_absent", sid) if {
	_missing(_notice)
	not _treated_as_missing(_notice)
	some sid, sub in data.safehub.subscribers
	_missing_recipient(sub, _notice)
}

_missing_recipient(sub, notice) if _authority_for_missing(sub, notice)

_missing_recipient(sub, _) if _return_interviewer(sub)
