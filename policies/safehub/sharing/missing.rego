# Missing children (R7, R8)
#
# R7 a missing episode (reported, found or returned) goes to the MASH and to the local
# authority responsible for the child, and to the placing local authority of a looked-after
# child placed out of area; on return the return home interview provider gets identifiers,
# return time, risk grade, exploitation flag and carer contact only. R8 an 'absent' (no
# apparent risk) episode of a child at risk of exploitation, looked after or missing
# repeatedly is shared as missing; an absent episode of any other child stays in the MASH.
# The child's local authorities, looked-after status, exploitation flags and earlier
# episodes come from the notice or, where it does not say, from what any agency told the
# hub (input.context, child_context.rego).
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

# R8: an absent episode is a missing episode for a child at risk of exploitation (as the
# notice says, or flagged by any agency), a looked-after child (notice or context), or a
# child missing repeatedly (the notice's own count, or the episodes any agency reported).
_r8_risk(notice, _) if _exploitation_risk(notice)

_r8_risk(_, ctx) if _flagged_by_any_agency(ctx)

_r8_risk(notice, ctx) if _looked_after(notice, ctx)

_r8_risk(notice, _) if notice.detail.episodes_last_90_days >= data.safehub.rules.R8.repeat_threshold

_r8_risk(notice, ctx) if _repeat_episodes(notice, ctx)

_treated_as_missing(notice, _) if not _absent(notice)

_treated_as_missing(notice, ctx) if _r8_risk(notice, ctx)

_r8_applies(notice, ctx) if {
	_absent(notice)
	_r8_risk(notice, ctx)
}

# The note names no reason in particular (and never another agency or a count): the
# recipient learns only that R8 applied.
_missing_extra(notice, ctx) := {"note": data.safehub.rules.R8.note, "rule_ids": ["R8"]} if {
	_r8_applies(notice, ctx)
} else := {}

# R7, R12: the child's local authorities as the notice names them, else as any agency told
# the hub. Worked out once per notice.
_child_la := _child_responsible_la(_notice, _child_context)

_child_placing := _child_placing_la(_notice, _child_context)

# The local authority responsible for the child, or the placing authority of a looked-after
# child: routed by the child's relationship with the authority, never by role alone.
_authority_for_missing(sub) if {
	_local_authority(sub)
	sub.organisation == _child_la
}

_authority_for_missing(sub) if {
	_local_authority(sub)
	sub.organisation == _child_placing
}

_return_interviewer(sub) if _has_role(sub, data.safehub.rules.R7.return_interview_roles)

# The provider commissioned by the child's responsible local authority, not every provider.
_commissioned_provider(sub) if {
	_return_interviewer(sub)
	sub.organisation in object.get(data.safehub.rules.R7.commissioned_providers, _child_la, [])
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
_grants[sid] contains object.union(_grant("missing_local_authority", sid), extra) if {
	_missing(_notice)
	_notice.detail.status in data.safehub.rules.R7.notify_statuses
	_treated_as_missing(_notice, _child_context)
	extra := _missing_extra(_notice, _child_context)
	some sid, sub in data.safehub.subscribers
	_authority_for_missing(sub)
}

# METADATA
# title: R7/R8 the commissioned return home interview provider is told when the child is back
# description: >-
#   Found or returned: the provider commissioned by the child's responsible local authority
#   gets identifiers, return time, risk grade, exploitation flag and carer contact only.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/children-who-run-away-or-go-missing-from-home-or-care
#     description: Return home interviews within 72 hours; ISA clause 5.1
_grants[sid] contains object.union(_grant("missing_return_interview", sid), extra) if {
	_missing(_notice)
	_returned(_notice)
	_treated_as_missing(_notice, _child_context)
	extra := _missing_extra(_notice, _child_context)
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
	not _treated_as_missing(_notice, _child_context)
	some sid, sub in data.safehub.subscribers
	_missing_recipient(sub)
}

_missing_recipient(sub) if _authority_for_missing(sub)

_missing_recipient(sub) if _return_interviewer(sub)
