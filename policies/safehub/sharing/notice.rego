# The notice being decided, and the field paths it holds
#
# Reads the notice from the input, refuses anything unexpected (fail closed), and works out
# which field paths hold information, at the granularity the gateway redacts by.
#
# References:
#   https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     DfE golden rule 6, share only what is relevant, accurate and needed
#   https://www.gov.uk/government/publications/government-security-classifications
#     Government Security Classifications (ISA clause 2.1)
package safehub.sharing

default _notice := null

_notice := input.notice

# A reason to refuse the whole notice (every subscriber gets DENY), or "" when it can be decided.
default _invalid_reason := ""

# Every check is a predicate over the whole notice: a negated test of a field that may be
# missing must not depend on how an engine treats an undefined value inside `not`.
_invalid_reason := data.safehub.rules.invalid.no_notice if {
	not is_object(_notice)
} else := data.safehub.rules.invalid.unknown_type if {
	not _known_type(_notice)
} else := data.safehub.rules.invalid.no_classification if {
	not _classified(_notice)
} else := data.safehub.rules.invalid.unknown_agency if {
	not _known_agency(_notice)
} else := data.safehub.rules.invalid.sender_not_authorised if {
	not _authorised_sender(_notice)
} else := data.safehub.rules.invalid.no_subject if {
	not _has_linkage_key(_notice)
} else := data.safehub.rules.invalid.no_detail if {
	not _has_detail(_notice)
}

_known_type(notice) if notice.notice_type in object.keys(data.safehub.isa.notice_types)

_classified(notice) if notice.classification in data.safehub.isa.classifications

_known_agency(notice) if notice.source.agency in object.keys(data.safehub.agencies)

_authorised_sender(notice) if notice.source.agency in data.safehub.isa.notice_types[notice.notice_type].senders

_has_linkage_key(notice) if _text(notice.subject.linkage_key)

_has_detail(notice) if is_object(notice.detail)

default _present := set()

# Paths holding information: container records field by field, everything else whole.
# Mirrors present_paths() in services/gateway/domain/redaction.py.
_present := whole | parts if {
	# Local values, not the rules: this runs for every field, and each reference to a rule
	# is a lookup.
	# regal ignore:pointless-reassignment
	notice := _notice
	is_object(notice)
	empty := {null, [], {}}
	containers := {key | some key in data.safehub.fields.containers; is_object(notice[key])}

	# Key by key, not `some key, value in notice`: regopy 1.5.2 refuses that form. The
	# emptiness test is written out, not called, because this runs for every field.
	whole := {key | some key in (object.keys(notice) - containers); not notice[key] in empty}
	parts := {concat(".", [key, child]) |
		some key in containers
		record := notice[key]
		some child in object.keys(record)
		not record[child] in empty
	}
}

# Fields the notice holds that the schema (as listed in data.safehub.fields) does not define
# for its type.
_unknown_paths := (_present - {path | some path in data.safehub.fields.paths}) - {path | some path in detail} if {
	detail := data.safehub.fields.detail[_notice.notice_type]
}

# METADATA
# title: Fields the sharing rules do not know are never disclosed
# description: >-
#   A field the notice holds that the schema (as listed in data.safehub.fields) does not
#   define is withheld from everyone, whatever a view says (fail closed).
# related_resources:
#   - ref: https://www.gov.uk/government/publications/the-caldicott-principles
#     description: Caldicott principle 3, use the minimum necessary
_restrictions[sid] contains _restriction("unknown_fields", sid, _unknown_paths) if {
	some sid in _sharing_candidates
}

# The paths a named view (data.safehub.rules.views) grants, limited to those present.
# (The view's items are bound before the comprehension: regopy 1.5.2 ignores a function
# argument used as an index of the collection a comprehension iterates over.)
_view_paths(view, present) := union({_expand(item, present) | some item in items}) & present if {
	items := data.safehub.rules.views[view]
}

_expand(item, present) := present if {
	item == "ALL"
} else := {path | some path in present; startswith(path, "detail.")} if {
	item == "DETAIL"
} else := {path | some path in group} if {
	group := data.safehub.fields.groups[item]
} else := {item}

# What a flag may carry when several vetoes stop a subscriber: only what every one of their
# flag groups allows, so a generic flag (R4: no contact point naming the service) is never
# widened by another veto's ordinary flag.
_flag_paths(ids, present) := intersection({_flag_group_paths(id) | some id in ids}) & present

# The group's paths are bound before the comprehension: regopy 1.5.2 ignores a function
# argument used as an index of the collection a comprehension iterates over.
_flag_group_paths(id) := {path | some path in paths} if {
	group := object.get(data.safehub.rules.vetoes[id], "flag_group", "flag")
	paths := data.safehub.fields.groups[group]
}

_text(value) if {
	is_string(value)
	value != ""
}

_type_label(notice) := data.safehub.isa.notice_types[notice.notice_type].label

# A notice for MASH triage. A CP-IS access notification (R13) is not: it is for the local
# authority that owns the plan.
_triage_type(notice) if {
	data.safehub.isa.notice_types[notice.notice_type].triage == true
	not notice.source.agency in data.safehub.rules.R1.lookup_agencies
}

_immediate_danger(notice) if notice.risk.immediate_danger == true
