# Voluntary and community sector (R10)
#
# The voluntary sector receives identifiers, category of need, agreed actions, safety
# instructions (source not named) and the lead professional's contact; never health detail
# or police intelligence. Applies to every subscriber whose agency is VOLUNTARY_SECTOR.
#
# References:
#   https://www.legislation.gov.uk/ukpga/2004/31/section/10
#     Children Act 2004 s10, co-operation to improve well-being; ISA clause 5.3
#   https://www.gov.uk/government/publications/the-caldicott-principles
#     Caldicott principle 3, use the minimum necessary
package safehub.sharing

_voluntary_sector(sub) if sub.agency in data.safehub.rules.R10.vcs_agencies

_early_help_worker(sub) if sub.role in data.safehub.rules.R10.early_help_roles

# METADATA
# title: R10 never health detail or police intelligence
# description: Voluntary sector subscribers get nothing from health alerts or police intelligence notices.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/the-caldicott-principles
#     description: Caldicott principles; ISA clause 5.3
_vetoes[sid] contains _veto("voluntary_sector_never", sid, sub) if {
	_notice.notice_type in data.safehub.rules.R10.never_types
	some sid, sub in data.safehub.subscribers
	_voluntary_sector(sub)
}

# METADATA
# title: R10 the voluntary sector ceiling
# description: >-
#   Whatever another rule grants, a voluntary sector subscriber never sees the source,
#   intelligence grading, clinical or health detail, or intelligence text.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/the-caldicott-principles
#     description: Caldicott principles; ISA clause 5.3
_restrictions[sid] contains _restriction("voluntary_sector", sid, data.safehub.rules.R10.never_paths) if {
	some sid, sub in data.safehub.subscribers
	_voluntary_sector(sub)
}

# METADATA
# title: R10 voluntary sector updates to the early help lead professional
# description: Identifiers, category of need, agreed actions, safety instructions and a contact.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2004/31/section/10
#     description: Children Act 2004 s10; ISA clause 5.3
_grants[sid] contains _grant("vcs_update_early_help", sid) if {
	_notice.notice_type == "VCS_UPDATE"
	some sid, sub in data.safehub.subscribers
	_early_help_worker(sub)
}
