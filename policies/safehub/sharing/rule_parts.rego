# Which parts of the rules a notice exercises
#
# The named grants, restrictions, vetoes and refusals of data.safehub.rules that fired for a
# notice, for any subscriber. A decision names only rule ids (R1..R15), and R5 fires on every
# police intelligence notice whether or not its police-confidential restriction applied; a
# policy simulation asks this to say which parts its input never reached.
#
# References:
#   https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     Golden rule 7, record the decision and the reasons whether or not you share (R15)
package safehub.sharing

# METADATA
# title: Rule parts that fired for a notice
# description: >-
#   Input as for `decisions` ({"notice": ..., optional "context": ...}). Returns
#   {"grants": [...], "restrictions": [...], "vetoes": [...], "refusals": [...]}, each the
#   sorted names (keys of data.safehub.rules.<kind>) whose conditions held for at least one
#   subscriber, even where a veto then overrode a grant. Restrictions are worked out only
#   for subscribers a grant may share with and no veto stops, as for the decisions. A notice
#   the policy refuses outright (unusable, every subscriber DENY) exercises no part.
# entrypoint: true
default rule_parts := {"grants": [], "restrictions": [], "vetoes": [], "refusals": []}

rule_parts := {
	"grants": _part_names(_grants),
	"restrictions": _part_names(_restrictions),
	"vetoes": _part_names(_vetoes),
	"refusals": _part_names(_refusals),
} if {
	_invalid_reason == ""
}

# `parts`: subscriber id -> the set of parts ({"id": <name>, ...}) that apply to it.
_part_names(parts) := sort({part.id | some members in parts; some part in members})
