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

_share_explanation(primary, restrictions, attribution, withheld) := concat("", [_shared_because(primary), "."]) if {
	count(withheld) == 0
} else := concat("", [concat("; ", array.concat([_shared_because(primary)], parts)), "."]) if {
	parts := _withheld_parts(primary, restrictions, attribution, withheld)
}

_shared_because(primary) := concat("", ["Shared because ", primary.reason, primary.note])

_withheld_parts(primary, restrictions, attribution, withheld) := parts if {
	ordered := sort([[data.safehub.rules.restrictions[owner].order, owner] | some owner in object.keys(attribution)])
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

_lawful_basis(id, notice, sub) := {
	"article6": basis.article6,
	"special_category_condition": _special_category_condition(basis, notice),
	"dpa_part3": _dpa_part3(notice, sub),
	"statutory_gateway": _statutory_gateway(basis, notice),
} if {
	basis := data.safehub.isa.lawful_bases[id]
}

_special_category_condition(basis, notice) := condition if {
	condition := basis.special_category_condition
} else := condition if {
	condition := data.safehub.isa.special_category_conditions[notice.source.agency]
} else := data.safehub.isa.special_category_conditions["default"]

_dpa_part3(notice, sub) := data.safehub.isa.dpa_part3 if {
	_police_involved(notice, sub)
} else := null

_police_involved(notice, _) if _police_source(notice)

_police_involved(_, sub) if _police(sub)

_police_source(notice) if notice.source.agency in data.safehub.isa.police_agencies

_statutory_gateway(basis, notice) := concat("; ", [
	basis.statutory_gateway,
	data.safehub.isa.police_statutory_gateway,
]) if {
	_police_source(notice)
} else := basis.statutory_gateway
