# Who the subscribers are
#
# What the sharing rules need to know about a subscriber (data.safehub.subscribers): its
# role, whether it sits inside the MASH, which local authority it is, which purposes it is
# registered for and which security classifications it may receive.
#
# References:
#   https://www.gov.uk/government/publications/the-caldicott-principles
#     Caldicott principle 4, access on a strict need-to-know basis
#   https://www.gov.uk/government/publications/government-security-classifications
#     Government Security Classifications (ISA clause 2.1)
package safehub.sharing

_inside_mash(sub) if sub.inside_mash == true

_has_role(sub, roles) if sub.role in roles

_outside_mash(sub) if not _inside_mash(sub)

# A decision maker sits inside the MASH: the role alone never routes.
_decision_maker(sub) if {
	sub.role in data.safehub.rules.R2.decision_maker_roles
	_inside_mash(sub)
}

_inside_partner(sub) if {
	_inside_mash(sub)
	not _decision_maker(sub)
}

_police(sub) if sub.agency in data.safehub.isa.police_agencies

_local_authority(sub) if sub.role in data.safehub.rules.R7.local_authority_roles

# The organisation code of the local authority responsible for the child. When the notice
# names none, the hub's own local authority (data.safehub.agencies.CHILDRENS_SERVICES)
# stands in for it.
_responsible_la_code(notice) := notice.subject.responsible_la if {
	_text(notice.subject.responsible_la)
} else := data.safehub.agencies.CHILDRENS_SERVICES.organisation

# Worked out once per notice rather than once per subscriber.
_responsible_la := _responsible_la_code(_notice)

# Route by relationship: a local authority subscriber is the responsible authority only
# when the notice names its organisation (or names none and it is the hub's own).
_responsible_authority(sub) if {
	_local_authority(sub)
	sub.organisation == _responsible_la
}

_role_label(sub) := label if {
	label := data.safehub.isa.roles[sub.role]
} else := sub.role if {
	_text(sub.role)
} else := "this recipient"

# The subscriber's first registered purpose, used when nothing is disclosed.
_primary_purpose(sub) := purpose if {
	purpose := sub.purposes[0]
	data.safehub.isa.purposes[purpose]
} else := data.safehub.isa.default_purpose

# The first of `candidates` the subscriber is registered for (purpose limitation).
_purpose(candidates, sub) := held[0] if {
	held := [purpose | some purpose in candidates; purpose in sub.purposes]
} else := _primary_purpose(sub)

_cleared(sub, notice) if _effective_classification(notice) in _cleared_classifications(sub)

# The marking the recipient's copy carries: police intelligence is OFFICIAL-SENSITIVE
# whatever the sender marked (R5), so only recipients approved for that may have it.
_effective_classification(notice) := data.safehub.rules.R5.caveat_classification if {
	_intelligence(notice)
	notice.classification in data.safehub.isa.classifications
} else := notice.classification

_cleared_classifications(sub) := sub.classifications if {
	is_array(sub.classifications)
} else := data.safehub.isa.default_subscriber_classifications

# METADATA
# title: Security classification the recipient is not approved for
# description: >-
#   A subscriber receives only notices whose classification its ISA approval covers
#   (attribute `classifications`; OFFICIAL only when not set).
# related_resources:
#   - ref: https://www.gov.uk/government/publications/government-security-classifications
#     description: Government Security Classifications; ISA clause 2.1
_vetoes[sid] contains _veto("classification_not_cleared", sid, sub) if {
	some sid, sub in data.safehub.subscribers
	not _cleared(sub, _notice)
}

# METADATA
# title: A local authority not responsible for the child
# description: Explains why a local authority subscriber gets nothing about another authority's child.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2004/31/section/11
#     description: Children Act 2004 s11; ISA clause 2.1
_refusals[sid] contains _refusal("another_local_authority", sid) if {
	some sid, sub in data.safehub.subscribers
	_local_authority(sub)
	not _authority_for_missing(sub)
}
