# MASH triage (R1, R2)
#
# R1 any agency may tell the MASH about a child at risk without consent, recording whether
# the family was told. R2 MASH decision makers see full content during triage; partners in
# the MASH research their own agency's records; the MASH is a firewall and only the
# decision summary needed for action leaves it.
#
# References:
#   https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     Golden rules 2 and 3, be open with the family where safe; consent is not needed where a child is at risk
#   https://www.legislation.gov.uk/ukpga/2004/31/section/11
#     Children Act 2004 s11, duty to safeguard and promote welfare; ISA clause 4.1
package safehub.sharing

# METADATA
# title: R1/R2 MASH decision makers see full content during triage
# description: >-
#   The MASH manager sees every notice sent to the MASH in full. The explanation notes when
#   the notice does not record why the family was not told or why consent was not sought.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/working-together-to-safeguard-children--2
#     description: Working Together 2023, MASH triage; ISA clause 4.1
_grants[sid] contains object.union(_grant("triage_decision_maker", sid), {"note": _r1_note(_notice)}) if {
	_triage_type(_notice)
	some sid, sub in data.safehub.subscribers
	_decision_maker(sub)
}

# METADATA
# title: R1/R2 a MASH partner sees its own agency's notice in full
# description: The health navigator sees health notices and the police researcher police notices in full.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2004/31/section/11
#     description: Children Act 2004 s11; ISA clause 4.1
_grants[sid] contains _grant("triage_partner_own_agency", sid) if {
	_triage_type(_notice)
	some sid, sub in data.safehub.subscribers
	_inside_partner(sub)
	sub.agency == _notice.source.agency
}

# METADATA
# title: R1/R2 MASH partners research other agencies' notices
# description: >-
#   Partners inside the MASH get what they need to research their own agency's records:
#   identifiers, context, concerns, risk, the summary, consent record, people named and the
#   type detail; not the full account, which is for decision makers.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2004/31/section/11
#     description: Children Act 2004 s11; ISA clause 4.1
_grants[sid] contains _grant("triage_partner", sid) if {
	_triage_type(_notice)
	some sid, sub in data.safehub.subscribers
	_inside_partner(sub)
	sub.agency != _notice.source.agency
}

# METADATA
# title: R2 the MASH firewall
# description: >-
#   Outside the MASH nobody receives the full account (or its sensitivity marking), the
#   decision rationale or the notices the decision was made on.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/working-together-to-safeguard-children--2
#     description: Working Together 2023; ISA clause 4.1
_restrictions[sid] contains _restriction("mash_firewall", sid, data.safehub.rules.R2.firewall_paths) if {
	some sid, sub in data.safehub.subscribers
	_outside_mash(sub)
}

_r1_note(notice) := concat("", [_family_note(notice), _consent_note(notice)])

_family_note(notice) := data.safehub.rules.R1.family_reason_note if {
	notice.family_informed.informed == false
	not _family_reason_given(notice)
} else := ""

_consent_note(notice) := data.safehub.rules.R1.consent_reason_note if {
	notice.consent.status in data.safehub.rules.R1.consent_reason_statuses
	not _consent_reason_given(notice)
} else := ""

_family_reason_given(notice) if _text(notice.family_informed.reason_not_informed)

_consent_reason_given(notice) if _text(notice.consent.reason_not_sought)
