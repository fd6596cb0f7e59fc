# Health information (R3, R4, R13)
#
# R3 NHS clinical detail goes only to the MASH health navigator; others get the navigator's
# risk summary. R4 sexual health, termination and SARC attendance stays with the navigator
# unless released for a child protection decision (then the MASH manager may see it).
# R13 unscheduled care sees the CP-IS plan flag only, and every such access notifies the
# responsible local authority.
#
# References:
#   https://www.gov.uk/government/publications/the-caldicott-principles
#     Caldicott principles 3 and 4, minimum necessary and need-to-know; ISA clause 4.2
#   https://digital.nhs.uk/services/child-protection-information-sharing-project
#     Child Protection - Information Sharing (CP-IS); ISA clause 5.6
package safehub.sharing

# METADATA
# title: R3 clinical detail only to the health navigator
# description: >-
#   Withholds detail.clinical_detail and detail.snomed_codes, and the full account of a health
#   notice (or any account marked CLINICAL), from everyone but the health navigator.
# related_resources:
#   - ref: https://www.legislation.gov.uk/eur/2016/679/article/9
#     description: UK GDPR Art 9(2)(h); ISA clause 4.2
_restrictions[sid] contains _restriction("clinical", sid, _notice_clinical_paths) if {
	some sid in _sharing_candidates
	sub := data.safehub.subscribers[sid]
	not _has_role(sub, data.safehub.rules.R3.clinical_roles)
}

_notice_clinical_paths := _clinical_paths(_notice)

_clinical_paths(notice) := clinical | account if {
	_clinical_account(notice)
	clinical := {path | some path in data.safehub.rules.R3.clinical_paths}
	account := {path | some path in data.safehub.rules.R3.account_paths}
} else := {path | some path in data.safehub.rules.R3.clinical_paths}

_clinical_account(notice) if notice.source.agency in data.safehub.rules.R3.clinical_source_agencies

_clinical_account(notice) if notice.narrative.sensitivity in data.safehub.rules.R3.clinical_sensitivities

_sensitive_setting(notice) if notice.detail.setting in data.safehub.rules.R4.sensitive_settings

_released(notice) if notice.detail.released_for_cp_decision == true

# A CP-IS access notification: the CP-IS lookup service tells the owning local authority
# that unscheduled care looked the child up. Nothing is broadcast to unscheduled care.
_cpis_encounter(notice) if {
	notice.notice_type == "HEALTH_SAFEGUARDING_ALERT"
	notice.source.agency in data.safehub.rules.R13.lookup_agencies
	notice.detail.unscheduled_care == true
	is_object(notice.detail.cpis_flag)
}

# METADATA
# title: R4 sensitive attendance stays with the health navigator
# description: >-
#   A sexual health, termination or SARC attendance not released for a child protection
#   decision: others in the MASH see only a flag, everyone outside gets nothing.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/the-caldicott-principles
#     description: Caldicott principles; ISA clause 4.2
_vetoes[sid] contains _veto("sensitive_health_setting", sid, sub) if {
	_sensitive_setting(_notice)
	not _released(_notice)
	some sid, sub in data.safehub.subscribers
	not _has_role(sub, data.safehub.rules.R4.holder_roles)
}

# METADATA
# title: R4 a released attendance goes to the MASH manager only
# description: >-
#   Released by a named or designated professional for a child protection decision: the MASH
#   manager (release_roles) may see it; others in the MASH see a flag; nobody outside.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/the-caldicott-principles
#     description: Caldicott principle 7, the duty to share; ISA clause 4.2
_vetoes[sid] contains _veto("sensitive_health_setting_released", sid, sub) if {
	_sensitive_setting(_notice)
	_released(_notice)
	some sid, sub in data.safehub.subscribers
	not _has_role(sub, data.safehub.rules.R4.holder_roles)
	not _has_role(sub, data.safehub.rules.R4.release_roles)
}

# METADATA
# title: R4 a released attendance goes to the MASH manager
# description: >-
#   Released by a named or designated professional for a child protection decision: the MASH
#   manager (release_roles) sees the alert like any other health alert (clinical detail still
#   stays with the navigator, R3).
# related_resources:
#   - ref: https://www.gov.uk/government/publications/the-caldicott-principles
#     description: Caldicott principle 7, the duty to share; ISA clause 4.2
_grants[sid] contains _grant("released_for_cp_decision", sid) if {
	_sensitive_setting(_notice)
	_released(_notice)
	some sid, sub in data.safehub.subscribers
	sub.role in data.safehub.rules.R4.release_roles
	_inside_mash(sub)
}

# METADATA
# title: R13 unscheduled care access notifies the local authority
# description: >-
#   A child with a CP-IS plan flag seen in unscheduled care: the responsible local authority
#   is told who, where, when and which plan, not the clinical content.
# related_resources:
#   - ref: https://digital.nhs.uk/services/child-protection-information-sharing-project
#     description: CP-IS access notifications; ISA clause 5.6
_grants[sid] contains _grant("cpis_local_authority", sid) if {
	_cpis_encounter(_notice)
	some sid, sub in data.safehub.subscribers
	_responsible_authority(sub)
}

# METADATA
# title: R13 the CP-IS register is kept current
# description: >-
#   A child protection plan or looked-after status that starts or ends goes to the CP-IS
#   register (the hub's lookup service, matched by organisation), with the NHS number, plan
#   type, dates and the responsible local authority only. Unscheduled care looks it up when
#   a child presents; nothing is broadcast to them.
# related_resources:
#   - ref: https://digital.nhs.uk/services/child-protection-information-sharing-project
#     description: CP-IS; ISA clause 5.6
_grants[sid] contains _grant("cpis_register", sid) if {
	_notice.notice_type == "CSC_STATUS_CHANGE"
	_notice.detail.change in data.safehub.rules.R13.register_changes
	some sid, sub in data.safehub.subscribers
	sub.role in data.safehub.rules.R13.register_roles
	sub.organisation == data.safehub.agencies.CPIS.organisation
}

# METADATA
# title: R13 unscheduled care looks CP-IS up
# description: Explains why unscheduled care receives no health alert or status change on a feed.
# related_resources:
#   - ref: https://digital.nhs.uk/services/child-protection-information-sharing-project
#     description: CP-IS is a lookup at presentation; ISA clause 5.6
_refusals[sid] contains _refusal("cpis_not_applicable", sid) if {
	_notice.notice_type in data.safehub.rules.R13.lookup_types
	some sid, sub in data.safehub.subscribers
	sub.role in data.safehub.rules.R13.unscheduled_care_roles
}
