# Operation Encompass (R9)
#
# A police-attended domestic abuse incident with children present, about a child of school
# or sixth-form age (data.safehub.rules.R9, 4 to 18 inclusive), present or normally resident:
# the designated safeguarding lead of the child's school (detail.school_urn, or where the
# notice names none the school an agency told the hub, input.context; matched to the
# subscriber's organisation however either is written) gets
# the child's identity, the time of the incident, that police attended and whom to contact,
# before the next school day. Never any narrative.
#
# References:
#   https://www.operationencompass.org
#     Operation Encompass; ISA clause 5.2
#   https://www.legislation.gov.uk/ukpga/2002/32/section/175
#     Education Act 2002 s175, safeguarding duty of schools
package safehub.sharing

_encompass(notice) if notice.notice_type == "DOMESTIC_ABUSE_INCIDENT"

_school(sub) if _has_role(sub, data.safehub.rules.R9.school_roles)

# Present at the incident, or normally living in the household.
_children_present(notice) if notice.detail.children_present == true

_children_present(notice) if notice.detail.children_normally_resident == true

# Compulsory school age or sixth form (R9.min_age to R9.max_age). A child whose age is not
# known but whose school is known (recorded by police, or told to the hub) is treated as at
# school.
_school_age(notice, _) if {
	is_number(notice.subject.age_years)
	notice.subject.age_years >= data.safehub.rules.R9.min_age
	notice.subject.age_years <= data.safehub.rules.R9.max_age
}

_school_age(notice, ctx) if {
	not is_number(notice.subject.age_years)
	_child_school_urn(notice, ctx)
}

_this_school(sub, notice, ctx) if _urn(_child_school_urn(notice, ctx)) == _urn(sub.organisation)

# A school URN however it is written ("123456", "URN-123456", "urn: 123456"): the digits.
_urn(text) := trim_prefix(replace(replace(replace(upper(text), " ", ""), ":", ""), "-", ""), "URN")

# METADATA
# title: R9 Operation Encompass minimum to the child's school
# description: Identity, incident time, police attendance and contact point; no narrative.
# related_resources:
#   - ref: https://www.operationencompass.org
#     description: Operation Encompass; ISA clause 5.2
_grants[sid] contains _grant("operation_encompass", sid) if {
	_encompass(_notice)
	_children_present(_notice)
	_school_age(_notice, _child_context)
	some sid, sub in data.safehub.subscribers
	_school(sub)
	_this_school(sub, _notice, _child_context)
}

# METADATA
# title: R9 no child present
# description: Explains why the school gets nothing when no child was present.
# related_resources:
#   - ref: https://www.operationencompass.org
#     description: Operation Encompass; ISA clause 5.2
_refusals[sid] contains _refusal("encompass_no_child_present", sid) if {
	_encompass(_notice)
	not _children_present(_notice)
	some sid, sub in data.safehub.subscribers
	_school(sub)
}

# METADATA
# title: R9 not of school age
# description: Explains why the school gets nothing when the child is not of school age, or the age is unknown.
# related_resources:
#   - ref: https://www.operationencompass.org
#     description: Operation Encompass; ISA clause 5.2
_refusals[sid] contains _refusal("encompass_not_school_age", sid) if {
	_encompass(_notice)
	not _school_age(_notice, _child_context)
	some sid, sub in data.safehub.subscribers
	_school(sub)
}

# METADATA
# title: R9 another school
# description: Explains why a school gets nothing when the notice names another school, or none.
# related_resources:
#   - ref: https://www.operationencompass.org
#     description: Operation Encompass; ISA clause 5.2
_refusals[sid] contains _refusal("encompass_other_school", sid) if {
	_encompass(_notice)
	some sid, sub in data.safehub.subscribers
	_school(sub)
	not _this_school(sub, _notice, _child_context)
}
