# What the hub has learned about the child (input.context)
#
# Beside each notice the gateway passes the child's context from the child index: what any
# agency has told the hub about this child, across every key the child has had (exploitation
# flags and by whom, missing episodes, looked-after status and placing local authority, CP
# plan, school, responsible local authority; policies/README.md, "The child's context").
# R7, R8, R9 and R12 read it where the notice alone does not say. It is for deciding only:
# no view, field path or explanation ever carries it, so a recipient never learns from a
# decision what another agency said. Without a context (a tool that sends only the notice)
# the child is one the hub knows nothing about.
#
# References:
#   https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     DfE golden rule 6, share what is necessary, relevant, adequate, accurate and timely
#   https://www.gov.uk/government/publications/children-who-run-away-or-go-missing-from-home-or-care
#     Repeat missing episodes and exploitation (R8); ISA clause 5.1
package safehub.sharing

default _child_context := {}

_child_context := input.context if is_object(input.context)

# Flagged for exploitation by any agency.
_flagged_by_any_agency(ctx) if ctx.exploitation.flagged == true

# Looked after, as the notice or any agency says.
_looked_after(notice, _) if notice.subject.looked_after == true

_looked_after(_, ctx) if ctx.looked_after == true

# The local authority responsible for the child (R7, R12): the one the notice names, else
# the one an agency told the hub, else the hub's own.
_child_responsible_la(notice, ctx) := notice.subject.responsible_la if {
	_text(notice.subject.responsible_la)
} else := ctx.responsible_la if {
	_text(ctx.responsible_la)
} else := data.safehub.agencies.CHILDRENS_SERVICES.organisation

# The placing local authority of a looked-after child (R7, R12): the notice's, else the
# context's; undefined for a child not looked after or when nobody named one.
_child_placing_la(notice, ctx) := la if {
	_looked_after(notice, ctx)
	la := _placing_la_named(notice, ctx)
}

_placing_la_named(notice, ctx) := notice.subject.placing_la if {
	_text(notice.subject.placing_la)
} else := ctx.placing_la if {
	_text(ctx.placing_la)
}

# The child's school (R9): the URN the notice names, else the one an agency told the hub.
_child_school_urn(notice, ctx) := notice.detail.school_urn if {
	_text(notice.detail.school_urn)
} else := ctx.school_urn if {
	_text(ctx.school_urn)
}

# R8 repeat episodes: the distinct episodes, reported by any agency, that started within
# R8.window_days before this episode started, this one counted once (however many agencies
# or status updates reported it: episodes are told apart by their start).
_episodes_in_window(notice, ctx) := count(starts | {start}) if {
	start := time.parse_rfc3339_ns(notice.detail.started_at)
	window := ((data.safehub.rules.R8.window_days * 24) * 3600) * 1000000000

	# Bound before the comprehension: regopy 1.5.2 ignores a function argument used as an
	# index of the collection a comprehension iterates over.
	episodes := _episodes(ctx)
	starts := {began |
		some episode in episodes
		is_string(episode.started_at)
		began := time.parse_rfc3339_ns(episode.started_at)
		began <= start
		start - window <= began
	}
}

_episodes(ctx) := ctx.missing_episodes if {
	is_array(ctx.missing_episodes)
} else := []

_repeat_episodes(notice, ctx) if _episodes_in_window(notice, ctx) >= data.safehub.rules.R8.repeat_threshold
