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

_share_explanation(primary, restrictions, withheld) := concat("", [_shared_because(primary), "."]) if {
	count(withheld) == 0
} else := concat("", [concat("; ", array.concat([_shared_because(primary)], parts)), "."]) if {
	parts := _withheld_parts(primary, restrictions, withheld)
}

_shared_because(primary) := concat("", ["Shared because ", primary.reason, primary.note])

_withheld_parts(primary, restrictions, withheld) := array.concat(by_restriction, _scope_parts(primary, scope)) if {
	owners := {_owner(path, restrictions) | some path in withheld}
	ordered := sort([[data.safehub.rules.restrictions[owner].order, owner] | some owner in owners])
	by_restriction := [_withheld_part(paths, data.safehub.rules.restrictions[pair[1]].reason) |
		some pair in ordered
		paths := {path | some path in withheld; _owner(path, restrictions) == pair[1]}
	]
	scope := {path | some path in withheld; not _owned(path, restrictions)}
}

_withheld_part(paths, reason) := _withheld_part_labelled(_join_labels(paths), reason)

_withheld_part_labelled(labels, reason) := concat("", ["withheld ", labels, " because ", reason])

_scope_parts(primary, scope) := [] if {
	count(scope) == 0
} else := [_withheld_part_labelled(_scope_label(scope), data.safehub.rules.grants[primary.id].scope_reason)]

_owned(path, restrictions) if {
	some restriction in restrictions
	path in restriction.paths
}

# The restriction that explains why `path` was withheld: the first in order that names it.
_owner(path, restrictions) := first[1] if {
	candidates := {[data.safehub.rules.restrictions[restriction.id].order, restriction.id] |
		some restriction in restrictions
		path in restriction.paths
	}
	count(candidates) > 0
	first := min(candidates)
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
