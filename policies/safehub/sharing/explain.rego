# Explanations and lawful bases (R15)
#
# Every decision carries one sentence a practitioner can read. A PARTIAL decision names
# what was withheld and why; a withheld field is attributed to the first restriction (in
# data.safehub.rules.restrictions order) that removed it, and anything else outside the
# grant's view to the grant's own scope reason. The lawful basis is assembled from
# data.safehub.isa: Art 6 and gateway from the grant, the Art 9 condition from the source
# agency, DPA 2018 Part 3 when police send or receive.
#
# References:
#   https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     Golden rule 7, record the decision and the reasons whether or not you share (R15)
#   https://www.legislation.gov.uk/ukpga/2018/12/schedule/1
#     DPA 2018 Sch 1 para 18, safeguarding of children and individuals at risk
#   https://www.legislation.gov.uk/ukpga/2018/12/schedule/8
#     DPA 2018 Sch 8 para 4, safeguarding (police processing under Part 3)
package safehub.sharing

_share_explanation(primary, restrictions, attribution, withheld, danger) := concat(
	"",
	[_shared_because(primary), danger, "."],
) if {
	count(withheld) == 0
} else := concat("", [concat("; ", array.concat([concat("", [_shared_because(primary), danger])], parts)), "."]) if {
	parts := _withheld_parts(primary, restrictions, attribution, withheld)
}

_shared_because(primary) := concat("", ["Shared because ", primary.reason, primary.note])

_withheld_parts(primary, restrictions, attribution, withheld) := parts if {
	# A silent restriction withholds without saying so: naming what it removed would point at
	# what it protects (a source).
	ordered := sort([[data.safehub.rules.restrictions[owner].order, owner] |
		some owner in object.keys(attribution)
		not data.safehub.rules.restrictions[owner].silent
	])
	by_restriction := [_withheld_part(attribution[pair[1]], data.safehub.rules.restrictions[pair[1]].reason) |
		some pair in ordered
	]
	scope := withheld - union({restriction.paths | some restriction in restrictions})
	parts := array.concat(by_restriction, _scope_parts(primary, scope))
}

_withheld_part(paths, reason) := _withheld_part_labelled(_join_labels(paths), reason)

_withheld_part_labelled(labels, reason) := concat("", ["withheld ", labels, " because ", reason])

_scope_parts(primary, scope) := [] if {
	count(scope) == 0
} else := [_withheld_part_labelled(_scope_label(scope), data.safehub.rules.grants[primary.id].scope_reason)]

# Which restriction explains each withheld path, grouped by restriction: the first in
# data.safehub.rules.restrictions order that names the path. Only restrictions that removed
# something take part, so this is a few set operations per decision, not a search per path.
_attribution(restrictions, withheld) := {id: paths |
	some i in numbers.range(0, count(hits) - 1)

	# A variable as the key, not hits[i][1]: regopy 1.5.2 aborts on a ref key.
	# regal ignore:comprehension-term-assignment
	id := hits[i][1]
	paths := hits[i][2] - union({earlier[2] | some earlier in array.slice(hits, 0, i)})
	count(paths) > 0
} if {
	hits := sort([[data.safehub.rules.restrictions[restriction.id].order, restriction.id, removed] |
		some restriction in restrictions
		removed := withheld & restriction.paths
		count(removed) > 0
	])
}

_scope_label(paths) := _join([_label(path) | some path in sort(paths)]) if {
	count(paths) <= 4
} else := data.safehub.rules.texts.everything_else

_join_labels(paths) := _join([_label(path) | some path in sort(paths)])

_label(path) := label if {
	label := data.safehub.fields.labels[path]
} else := path

_join(items) := items[0] if {
	count(items) == 1
} else := concat("", [concat(", ", array.slice(items, 0, count(items) - 1)), " and ", items[count(items) - 1]])

# The discloser's basis (Art 6, Art 9 and Art 10 conditions, Part 3 when police disclose,
# statutory gateway) and, separately, the recipient's basis for its own processing.
_lawful_basis(id, notice, sub) := {
	"article6": basis.article6,
	"special_category_condition": _special_category_condition(basis, notice, sub),
	"criminal_offence_condition": _criminal_offence_condition(notice),
	"dpa_part3": _dpa_part3(notice),
	"statutory_gateway": _statutory_gateway(basis, notice, sub),
	"recipient_basis": _recipient_basis(sub),
} if {
	basis := data.safehub.isa.lawful_bases[id]
}

# Art 9: where consent was given, the care basis or consent, never para 18; health to police
# is never 9(2)(h); otherwise para 18 (safeguarding without consent). A basis may name its own.
_special_category_condition(basis, notice, sub) := object.get(
	basis, "special_category_condition",
	data.safehub.isa.special_category_conditions[_special_category_kind(notice, sub)],
)

_special_category_kind(notice, sub) := "health_care" if {
	_care_source(notice)
	not _police(sub)
} else := "consent" if {
	_consented(notice)
} else := "safeguarding"

_care_source(notice) if notice.source.agency in data.safehub.isa.care_source_agencies

_consented(notice) if notice.consent.status in data.safehub.isa.consent_statuses

# Art 10 for criminal offence data: domestic abuse incidents, intelligence, trafficking.
_criminal_offence_condition(notice) := data.safehub.isa.criminal_offence_condition if {
	_criminal_offence_data(notice)
} else := null

_criminal_offence_data(notice) if notice.notice_type in data.safehub.isa.criminal_offence_types

_criminal_offence_data(notice) if _nrm(notice)

# DPA 2018 Part 3 is the police's own basis: cited for the discloser only when police send.
_dpa_part3(notice) := data.safehub.isa.dpa_part3 if {
	_police_source(notice)
} else := null

_recipient_basis(sub) := data.safehub.isa.recipient_bases[_recipient_kind(sub)]

_recipient_kind(sub) := "POLICE" if {
	_police(sub)
} else := "COMMISSIONED" if {
	sub.role in data.safehub.isa.commissioned_roles
} else := "VOLUNTARY_SECTOR" if {
	_voluntary_sector(sub)
} else := "default"

_police_source(notice) if notice.source.agency in data.safehub.isa.police_agencies

# Crime and Disorder Act 1998 s115 is a power to disclose to relevant authorities only
# (police, local authorities, health), never to schools or charities.
_statutory_gateway(basis, notice, sub) := concat("; ", [
	_base_gateway(basis, sub),
	data.safehub.isa.police_statutory_gateway,
]) if {
	_police_source(notice)
	_relevant_authority(sub)
} else := _base_gateway(basis, sub)

_relevant_authority(sub) if sub.agency in data.safehub.isa.relevant_authority_agencies

# Schools: s175 for maintained schools and FE, s157 for academies and independent schools.
_base_gateway(basis, sub) := concat("; ", [basis.statutory_gateway, basis.school_gateways[sub.school_type]]) if {
	basis.school_gateways
} else := concat("; ", [basis.statutory_gateway, data.safehub.isa.unknown_school_gateway]) if {
	basis.school_gateways
} else := basis.statutory_gateway
