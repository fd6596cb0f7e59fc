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
_grants[sid] contains object.union(_grant("triage_decision_maker", sid), _triage_extra(_notice, _child_context)) if {
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
	_partner_research(_notice)
	some sid, sub in data.safehub.subscribers
	_inside_partner(sub)
	sub.agency == _notice.source.agency
}

# METADATA
# title: R1/R2 MASH partners research other agencies' notices
# description: >-
#   Partners inside the MASH get what they need to research their own agency's records:
#   identifiers, context, concerns, risk, the summary, consent record, people named and the
#   type detail; not the full account, which is for decision makers. Only notices that need
#   research: a concern (data.safehub.rules.R1.partner_research_types), a medium or high
#   risk, or immediate danger; a routine status change or a charity's engagement update is
#   for the MASH manager alone.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2004/31/section/11
#     description: Children Act 2004 s11; ISA clause 4.1
_grants[sid] contains _grant("triage_partner", sid) if {
	_triage_type(_notice)
	_partner_research(_notice)
	some sid, sub in data.safehub.subscribers
	_inside_partner(sub)
	sub.agency != _notice.source.agency
}

# METADATA
# title: R1 immediate danger out of hours goes to the emergency duty team
# description: >-
#   A notice saying the child is in immediate danger, created while the MASH is closed, goes
#   to the emergency duty team of the child's local authority (matched by organisation).
# related_resources:
#   - ref: https://www.gov.uk/government/publications/working-together-to-safeguard-children--2
#     description: Working Together 2023, immediate protection; ISA clause 4.4
_grants[sid] contains _grant("emergency_duty", sid) if {
	_triage_type(_notice)
	_immediate_danger(_notice)
	not _mash_open(_notice)
	some sid, sub in data.safehub.subscribers
	sub.role in data.safehub.rules.R1.emergency_duty_roles
	sub.organisation == _responsible_la
}

# METADATA
# title: R2 the MASH firewall
# description: >-
#   Outside the MASH nobody receives the full account (or its sensitivity marking), the
#   decision rationale or the notices the decision was made on.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/working-together-to-safeguard-children--2
#     description: Working Together 2023; ISA clause 4.1
_restrictions[sid] contains _restriction("mash_firewall", sid, _firewall_paths) if {
	some sid in _sharing_candidates
	sub := data.safehub.subscribers[sid]
	_outside_mash(sub)
}

_firewall_paths := {path | some path in data.safehub.rules.R2.firewall_paths}

_r1_note(notice) := concat("", [_family_note(notice), _consent_note(notice)])

# R1 notes, and for a missing episode the R8 note, so the manager sees an R8 child as missing.
_triage_extra(notice, ctx) := {"note": concat("", [_r1_note(notice), r8.note]), "rule_ids": r8.rule_ids} if {
	_missing(notice)
	r8 := _missing_extra(notice, ctx)
	r8.note
} else := {"note": _r1_note(notice)}

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

# Partner research is for concerns, not for routine updates (R1, Caldicott principle 4).
_partner_research(notice) if notice.notice_type in data.safehub.rules.R1.partner_research_types

_partner_research(notice) if notice.risk.level in data.safehub.rules.R1.partner_research_risk_levels

_partner_research(notice) if _immediate_danger(notice)

_consent_refused_without_risk(notice) if {
	notice.consent.status in data.safehub.rules.R1.consent_override_statuses
	notice.risk.level in data.safehub.rules.R1.no_apparent_risk_levels
	not _immediate_danger(notice)
	not _consent_reason_given(notice)
}

# METADATA
# title: R1 consent refused and no risk recorded
# description: >-
#   Sharing without consent needs a risk of harm (or a recorded reason). A notice whose family
#   refused consent, that records no apparent risk, no immediate danger and no reason to share
#   anyway, goes to nobody.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     description: Golden rule 3, consent is not needed where a child is at risk of harm; ISA clause 4.1
_vetoes[sid] contains _veto("consent_refused_no_risk", sid, sub) if {
	_triage_type(_notice)
	_consent_refused_without_risk(_notice)
	some sid, sub in data.safehub.subscribers
}

# MASH opening hours are data (data.safehub.rules.mash_hours), read at the notice's creation
# time in local time, so a decision replays identically. Local time is UTC plus the summer
# time offsets listed in the data (regopy 1.5.2 aborts on the time zone forms of the time
# builtins and on time.weekday, so both are worked out here).
_mash_open(notice) if {
	hours := data.safehub.rules.mash_hours
	utc := time.parse_rfc3339_ns(notice.created_at)
	local := utc + (_utc_offset_hours(utc) * _ns_per_hour)
	not sprintf("%04d-%02d-%02d", time.date(local)) in hours.closed_dates

	# 1 January 1970 was a Thursday: day 0 is weekdays[3].
	window := hours.open[hours.weekdays[(floor(local / (24 * _ns_per_hour)) + 3) % 7]]
	clock := time.clock(local)
	now := sprintf("%02d:%02d", [clock[0], clock[1]])
	window[0] <= now
	now < window[1]
}

_ns_per_hour := 3600000000000

_utc_offset_hours(utc) := sum([period.hours |
	some period in data.safehub.rules.mash_hours.summer_time
	time.parse_rfc3339_ns(period.from) <= utc
	utc < time.parse_rfc3339_ns(period.to)
])
