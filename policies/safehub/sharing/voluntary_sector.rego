# Voluntary and community sector (R10)
#
# The voluntary sector receives identifiers, category of need, agreed actions, safety
# instructions (source not named) and the lead professional's contact; never health detail
# or police intelligence: an allow-list, wherever the charity sits. A charity's own updates go
# to the MASH, not straight to other charities. Applies to every subscriber whose agency is
# VOLUNTARY_SECTOR.
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
# title: R10 the voluntary sector allow-list
# description: >-
#   Wherever the charity sits (inside the MASH included), a voluntary sector subscriber
#   receives at most identifiers, category of need, agreed actions, safety instructions and
#   the lead professional's contact (view data.safehub.rules.R10.allow_view); a provider
#   commissioned for a public function also gets its commissioned view (the return home
#   interview minimum, R7). Everything else the notice holds is withheld.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/the-caldicott-principles
#     description: Caldicott principle 3, use the minimum necessary; ISA clause 5.3
_restrictions[sid] contains _restriction("voluntary_sector", sid, _present - _vcs_allowed(sub, _notice, _present)) if {
	some sid in _sharing_candidates
	sub := data.safehub.subscribers[sid]
	_voluntary_sector(sub)
}

_vcs_allowed(sub, notice, present) := (_vcs_base_allowed(sub, present) | _vcs_contact(notice)) & present

# The allow-list, plus the view of a role commissioned or entitled beyond it (the return home
# interview minimum, R7; a referrer told the outcome, R2).
_vcs_base_allowed(sub, present) := allowed | _view_paths(data.safehub.rules.R10.role_views[sub.role], present) if {
	allowed := _view_paths(data.safehub.rules.R10.allow_view, present)
} else := _view_paths(data.safehub.rules.R10.allow_view, present)

# The lead professional's contact: the contact point of a notice the MASH itself sent (a MASH
# decision). Any other notice's contact point would name its source, so the MASH relay is
# given instead.
_vcs_contact(notice) := {"contact_point"} if {
	notice.source.agency in data.safehub.rules.R10.contact_sources
} else := set()
