# Child trafficking and modern slavery referrals (R12)
#
# A TRAFFICKING_NRM notice goes only to police, the responsible local authority and the MASH
# manager; the child's exploitation account (detail.exploitation_account) therefore never
# reaches anyone else.
#
# References:
#   https://www.legislation.gov.uk/ukpga/2015/30/section/52
#     Modern Slavery Act 2015 s52, duty to notify; ISA clause 5.5
#   https://www.gov.uk/government/publications/human-trafficking-victims-referral-and-assessment-forms
#     National Referral Mechanism guidance
package safehub.sharing

_nrm(notice) if notice.notice_type == "TRAFFICKING_NRM"

_nrm_mash_recipient(sub) if sub.role in data.safehub.rules.R12.recipient_roles

_nrm_mash_recipient(sub) if sub.agency in data.safehub.rules.R12.recipient_agencies

_nrm_recipient(sub, _) if _nrm_mash_recipient(sub)

_nrm_recipient(sub, notice) if _responsible_authority(sub, notice)

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
# title: R12 NRM referral to the responsible local authority
# description: Including the child's exploitation account; referrer and third parties masked (R14).
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2015/30/section/52
#     description: Modern Slavery Act 2015 s52; ISA clause 5.5
_grants[sid] contains _grant("nrm_local_authority", sid) if {
	_nrm(_notice)
	some sid, sub in data.safehub.subscribers
	_responsible_authority(sub, _notice)
}

# METADATA
# title: R12 NRM referrals go nowhere else
# description: Every other subscriber gets nothing, not even a flag.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2015/30/section/52
#     description: Modern Slavery Act 2015 s52; ISA clause 5.5
_vetoes[sid] contains _veto("nrm_restricted", sid, sub) if {
	_nrm(_notice)
	some sid, sub in data.safehub.subscribers
	not _nrm_recipient(sub, _notice)
}
