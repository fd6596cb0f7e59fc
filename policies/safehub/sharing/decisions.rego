# METADATA
# title: Safeguarding sharing decisions
# description: >-
#   For one safeguarding notice, decide what every hub subscriber may see: PERMIT, PARTIAL,
#   FLAG_ONLY or DENY, with the permitted field paths, purpose, lawful basis, ISA clause,
#   the rules that fired and a plain-English explanation. Deny by default: a subscriber gets
#   something only when a sharing rule (a grant) gives it a need to know, and vetoes and
#   restrictions always win over grants.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     description: DfE Information sharing advice for safeguarding practitioners (2024), seven golden rules
#   - ref: https://www.gov.uk/government/publications/working-together-to-safeguard-children--2
#     description: Working Together to Safeguard Children 2023
#   - ref: https://www.legislation.gov.uk/ukpga/2018/12/section/62
#     description: DPA 2018 s62 logging; every decision is recorded with its reasons (R15, ISA clause 7.1)
package safehub.sharing

# METADATA
# title: Sharing decisions for every subscriber
# description: >-
#   The gateway's single query per notice (input {"notice": <SafeguardingNotice as JSON>,
#   "context": <what the hub has learned about the child>}; without a context the child is
#   one the hub knows nothing about). Returns an object with one decision for every
#   subscriber in data.safehub.subscribers.
# entrypoint: true
# related_resources:
#   - ref: https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     description: Golden rule 7, record the decision and the reasons whether or not you share (R15)
decisions[sid] := _decision(sid, data.safehub.subscribers[sid], _context) if {
	some sid in object.keys(data.safehub.subscribers)
}

# METADATA
# title: Sharing decisions for a batch of notices
# description: >-
#   The same decisions for several notices in one query (input {"notices": [...],
#   "contexts": {<linkage key>: <the child's context>}}), in input order: one `decisions`
#   object per notice, each with its own child's context. It saves the gateway an HTTP round
#   trip per notice; each notice is still decided on its own.
# entrypoint: true
batch_decisions := [_decisions_alone(notice) | some notice in input.notices]

# Every rule reads the notice through _notice and the context through _child_context, so
# replacing those two rules decides `notice` alone, with its child's context. (Replacing
# input instead makes OPA copy the whole batch input for every notice, and regopy 1.5.2
# cannot compile `with input as <object>`.)
_decisions_alone(notice) := decided if {
	context := _batch_context(notice)

	# The two rules replaced are what makes this function: both must be named here.
	# regal ignore:with-outside-test-context,external-reference
	decided := decisions with _notice as notice with _child_context as context
}

# The batch's contexts are keyed by child (linkage key): a child with several notices in
# the batch is sent once.
_batch_context(notice) := context if {
	context := input.contexts[notice.subject.linkage_key]
	is_object(context)
} else := {}

# Restrictions are worked out only for subscribers a grant may share with and no veto stops:
# everyone else gets a flag or a refusal, which never reads them.
_sharing_candidates := object.keys(_grants) - object.keys(_vetoes)

# Subscribers some grant, veto or refusal names. Most subscribers are named by none (deny
# by default) and are decided without looking through the rule sets.
_named := (object.keys(_grants) | object.keys(_vetoes)) | object.keys(_refusals)

_context := {
	"notice": _notice,
	"invalid": _invalid_reason,
	"present": _present,
	"named": _named,
	"grants": _grants,
	"vetoes": _vetoes,
	"restrictions": _restrictions,
	"refusals": _refusals,
}

# Precedence: unusable notice, then vetoes, then grants (purpose permitting), then the reason
# a near-miss grant did not apply, then deny by default.
_decision(sid, sub, ctx) := decision if {
	ctx.invalid != ""
	decision := _deny(sub, set(), ctx.invalid, "ISA-2.1")
} else := decision if {
	sid in ctx.named
	decision := _named_decision(sid, sub, ctx)
} else := _default_deny(sub, ctx.notice)

# For a subscriber some grant, veto or refusal names: vetoes, then grants (purpose
# permitting), then the reason a near-miss grant did not apply, then the refusal.
_named_decision(sid, sub, ctx) := decision if {
	vetoes := object.get(ctx.vetoes, sid, set())
	count(vetoes) > 0
	decision := _veto_decision(sub, vetoes, ctx)
} else := decision if {
	# Bound before the comprehension: regopy 1.5.2 ignores a function argument used as an
	# index of the collection a comprehension iterates over.
	granted := object.get(ctx.grants, sid, set())
	grants := {grant | some grant in granted; _grant_purpose(grant, sub, ctx.notice)}
	count(grants) > 0
	decision := _share_decision(sid, sub, grants, ctx)
} else := decision if {
	count(object.get(ctx.grants, sid, set())) > 0
	decision := _deny(sub, set(), sprintf(data.safehub.rules.texts.purpose_not_registered, [_role_label(sub)]), null)
} else := decision if {
	refusals := object.get(ctx.refusals, sid, set())
	count(refusals) > 0
	decision := _refusal_decision(sub, refusals)
}

_grant(id, sid) := {
	"subscriber": sid,
	"id": id,
	"rule_ids": [],
	"note": "",
	"basis": data.safehub.rules.grants[id].basis,
	"reason": data.safehub.rules.grants[id].reason,
}

_veto(id, sid, sub) := {"subscriber": sid, "id": id, "outcome": _veto_outcome(id, sub)}

_veto_outcome(id, sub) := "FLAG_ONLY" if {
	data.safehub.rules.vetoes[id].flag_inside == true
	_inside_mash(sub)
} else := "DENY"

# `paths` is a set. A list from data is made a set once per notice by a rule
# (_firewall_paths, ...), not once for every recipient it applies to.
_restriction(id, sid, paths) := {"subscriber": sid, "id": id, "paths": paths}

_refusal(id, sid) := {"subscriber": sid, "id": id}

_deny(sub, rule_ids, reason, clause) := {
	"outcome": "DENY",
	"permitted_fields": [],
	"purpose": _primary_purpose(sub),
	"lawful_basis": data.safehub.isa.no_disclosure,
	"isa_clause": clause,
	"rule_ids": sort(rule_ids | {"R15"}),
	"explanation": concat("", ["Withheld because ", reason, "."]),
}

_default_deny(sub, notice) := decision if {
	_outside_mash(sub)
	_triage_type(notice)
	text := data.safehub.rules.texts.default_deny_triage
	decision := _deny(sub, {"R2"}, sprintf(text, [_role_label(sub), _type_label(notice)]), null)
} else := _deny(
	sub, set(),
	sprintf(data.safehub.rules.texts.default_deny, [_role_label(sub), _type_label(notice)]),
	null,
)

_refusal_decision(sub, refusals) := decision if {
	first := min({[data.safehub.rules.refusals[refusal.id].order, refusal.id] | some refusal in refusals})
	chosen := data.safehub.rules.refusals[first[1]]
	decision := _deny(sub, {rule | some rule in chosen.rule_ids}, chosen.reason, chosen.isa_clause)
}

_veto_decision(sub, vetoes, ctx) := decision if {
	ids := _sorted({veto.id | some veto in vetoes; veto.outcome == "DENY"})
	count(ids) > 0
	clause := data.safehub.rules.vetoes[ids[0]].isa_clause
	decision := _deny(sub, _veto_rules(ids, ctx.notice), _veto_reasons(ids), clause)
} else := decision if {
	ids := _sorted({veto.id | some veto in vetoes})
	first := data.safehub.rules.vetoes[ids[0]]

	decision := {
		"outcome": "FLAG_ONLY",
		"permitted_fields": sort(_flag_fields(sub, ids, ctx)),
		"purpose": _purpose(first.purposes, sub),
		"lawful_basis": _lawful_basis(first.basis, ctx.notice, sub),
		"isa_clause": first.isa_clause,
		"rule_ids": sort(_veto_rules(ids, ctx.notice) | {"R15"}),
		"explanation": concat("", [
			"Withheld because ", _veto_reasons(ids), "; only a flag that ", first.flag,
			" is shared, with whom to contact", _danger_note(sub, ctx.notice), ".",
		]),
		"handling_caveat": _caveat(ctx.notice),
	}
}

# A flag carries no more than the subscriber could otherwise see: for the voluntary sector,
# only what the R10 allow-list lets through.
_flag_fields(sub, ids, ctx) := _flag_paths(ids, ctx.present) & _vcs_allowed(sub, ctx.notice, ctx.present) if {
	_voluntary_sector(sub)
} else := _flag_paths(ids, ctx.present)

# Immediate danger is flagged to every MASH recipient, whatever else it may see.
_danger_note(sub, notice) := data.safehub.rules.R1.immediate_danger_note if {
	_inside_mash(sub)
	_immediate_danger(notice)
} else := ""

# Police intelligence is handled as OFFICIAL-SENSITIVE whatever the sender marked (R5).
_caveat(notice) := data.safehub.rules.R5.caveat_classification if {
	_intelligence(notice)
} else := null

_veto_rules(ids, notice) := rules | _context_rules(notice) if {
	rules := {rule | some id in ids; some rule in data.safehub.rules.vetoes[id].rule_ids}
}

_veto_reasons(ids) := concat("; ", [data.safehub.rules.vetoes[id].reason | some id in ids])

# A sorted array of a set's members. (regopy 1.5.2 cannot index the result of sort() on a set.)
_sorted(members) := sort([member | some member in members])

_share_decision(sid, sub, grants, ctx) := decision if {
	primary := _primary_grant(grants)
	viewed := union({_view_paths(data.safehub.rules.grants[grant.id].view, ctx.present) | some grant in grants})

	# Without the subscriber, so that recipients whose restrictions are the same share the
	# attribution and explanation OPA has already worked out (it caches function results).
	restrictions := {{"id": restriction.id, "paths": restriction.paths} |
		some restriction in object.get(ctx.restrictions, sid, set())
	}
	permitted := viewed - union({restriction.paths | some restriction in restrictions})
	count(permitted) > 0
	withheld := ctx.present - permitted
	attribution := _attribution(restrictions, withheld)
	decision := {
		"outcome": _share_outcome(withheld),
		"permitted_fields": sort(permitted),
		"purpose": _grant_purpose(primary, sub, ctx.notice),
		"lawful_basis": _lawful_basis(primary.basis, ctx.notice, sub),
		"isa_clause": data.safehub.rules.grants[primary.id].isa_clause,
		"rule_ids": sort(_share_rules(grants, attribution, withheld, ctx.notice)),
		"explanation": _share_explanation(primary, restrictions, attribution, withheld, _danger_note(sub, ctx.notice)),
		"handling_caveat": _caveat(ctx.notice),
	}
} else := _deny(sub, set(), sprintf(data.safehub.rules.texts.nothing_in_view, [_role_label(sub)]), null)

_share_outcome(withheld) := "PERMIT" if {
	count(withheld) == 0
} else := "PARTIAL"

# The grant that names the purpose, basis and clause: lowest priority number, then id.
_primary_grant(grants) := grant if {
	first := min({[data.safehub.rules.grants[candidate.id].priority, candidate.id] | some candidate in grants})
	some grant in grants
	grant.id == first[1]
}

_grant_purpose(grant, sub, notice) := held[0] if {
	candidates := _candidate_purposes(data.safehub.rules.grants[grant.id], notice)
	held := [purpose | some purpose in candidates; purpose in sub.purposes]
}

_candidate_purposes(spec, notice) := purposes if {
	notice.subject.looked_after == true
	purposes := spec.purposes_looked_after
} else := spec.purposes

_share_rules(grants, attribution, withheld, notice) := rules if {
	granted := {rule | some grant in grants; some rule in data.safehub.rules.grants[grant.id].rule_ids}
	extra := {rule | some grant in grants; some rule in grant.rule_ids}
	restricted := {rule |
		some owner in object.keys(attribution)
		some rule in data.safehub.rules.restrictions[owner].rule_ids
	}
	rules := (((granted | extra) | restricted) | _partial_rules(withheld)) | _context_rules(notice)
}

_partial_rules(withheld) := {"R15"} if {
	count(withheld) > 0
} else := set()
