# Child trafficking and modern slavery referrals (R12)
#
# A TRAFFICKING_NRM notice (or a charity's NRM_REFERRAL update) goes only to police in the
# MASH, the responsible local authority (and the placing authority of a looked-after child)
# and the MASH manager; others in the MASH see a flag. Police and local authorities are first
# responders too. The child's exploitation account never reaches anyone else. The local
# authorities are the ones the notice names or, where it names none, the ones any agency
# told the hub (input.context, as for R7).
#
# References:
#   https://www.legislation.gov.uk/ukpga/2015/30/section/52
#     Modern Slavery Act 2015 s52, the first responder's duty to notify the Secretary of State
#     (not a local sharing gateway); ISA clause 5.5
#   https://www.gov.uk/government/publications/human-trafficking-victims-referral-and-assessment-forms
#     National Referral Mechanism guidance
package safehub.sharing

_nrm(notice) if notice.notice_type == "TRAFFICKING_NRM"

# A charity's update that is an NRM referral is an NRM referral.
_nrm(notice) if {
	notice.notice_type == "VCS_UPDATE"
	notice.detail.kind in data.safehub.rules.R12.vcs_nrm_kinds
}

_nrm_mash_recipient(sub) if {
	sub.role in data.safehub.rules.R12.recipient_roles
	_inside_mash(sub)
}

_nrm_mash_recipient(sub) if {
	sub.agency in data.safehub.rules.R12.inside_recipient_agencies
	_inside_mash(sub)
}

_nrm_recipient(sub) if _nrm_mash_recipient(sub)

_nrm_recipient(sub) if _authority_for_missing(sub)

# METADATA
# title: R12 NRM referral in full to the MASH manager and police
# description: Including the child's exploitation account.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2015/30/section/52
#     description: Modern Slavery Act 2015 s52; ISA clause 5.5
_grants[sid] contains _grant("nrm_mash", sid) if {
	_nrm(_notice)
	some sid, sub in data.safehub.subscribers
	_nrm_mash_recipient(sub)
}

# METADATA
# title: R12 NRM referral to the responsible (and placing) local authority
# description: Including the child's exploitation account; referrer and third parties masked (R14).
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2015/30/section/52
#     description: Modern Slavery Act 2015 s52; ISA clause 5.5
_grants[sid] contains _grant("nrm_local_authority", sid) if {
	_nrm(_notice)
	some sid, sub in data.safehub.subscribers
	_authority_for_missing(sub)
}

# METADATA
# title: R12 NRM referrals go nowhere else
# description: >-
#   Others in the MASH see a flag that names no service; everyone outside gets nothing.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2015/30/section/52
#     description: Modern Slavery Act 2015 s52; ISA clause 5.5
_vetoes[sid] contains _veto("nrm_restricted", sid, sub) if {
	_nrm(_notice)
	some sid, sub in data.safehub.subscribers
	not _nrm_recipient(sub)
}
