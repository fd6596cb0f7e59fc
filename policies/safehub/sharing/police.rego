# Police information and intelligence (R5, R6)
#
# R5 intelligence with handling P may go to MASH decision makers as OFFICIAL-SENSITIVE;
# handling C goes to police only and others in the MASH see a flag; source-identifying
# detail never leaves police. R6 maps legacy 5x5x5 handling codes (data.safehub.grading,
# owned by the IG officer). The handling code governs any notice that carries a grading.
# An unknown or missing handling code keeps the record with police (fail closed).
#
# References:
#   https://www.college.police.uk/app/intelligence-management/intelligence-report
#     College of Policing APP, intelligence report and 3x5x2 grading; ISA clause 4.3
#   https://www.legislation.gov.uk/ukpga/2018/12/schedule/8
#     DPA 2018 Part 3, Sch 8 para 4 (safeguarding)
#   https://www.legislation.gov.uk/ukpga/1998/37/section/115
#     Crime and Disorder Act 1998 s115
package safehub.sharing

# P, C, POLICE_ONLY, NONE (no grading on a notice that need not carry one) or UNRECOGNISED.
_handling(notice) := _authorised(mapped, notice.intelligence_grading) if {
	grading := notice.intelligence_grading
	mapped := data.safehub.grading.handling[grading.scheme][grading.handling_code]
} else := "UNRECOGNISED" if {
	is_object(notice.intelligence_grading)
} else := "UNRECOGNISED" if {
	notice.notice_type in data.safehub.grading.grading_required_for
} else := "NONE"

# Legacy code 2 may go to UK non-prosecuting parties only with a recorded authorisation;
# without one it stays with law enforcement (police in the MASH; others a flag).
_authorised(mapped, grading) := "P" if {
	mapped == "P_IF_AUTHORISED"
	_text(grading.dissemination_authorisation)
} else := "C" if {
	mapped == "P_IF_AUTHORISED"
} else := mapped

_unreliable(notice) if {
	assessment := notice.intelligence_grading.intelligence_assessment
	assessment in data.safehub.rules.R5.unreliable_assessments
}

# The caveat, and for legacy code 2 the authorisation, are stated on every disclosure of
# police intelligence.
_intelligence_note(notice) := concat("", [
	data.safehub.rules.R5.caveat_note,
	_authorisation_note(notice),
]) if {
	_intelligence(notice)
} else := ""

_authorisation_note(notice) := sprintf(
	data.safehub.rules.R5.authorised_note,
	[grading.dissemination_authorisation],
) if {
	grading := notice.intelligence_grading
	data.safehub.grading.handling[grading.scheme][grading.handling_code] == "P_IF_AUTHORISED"
	_text(grading.dissemination_authorisation)
} else := ""

# R6 fires on every decision about a notice graded under a legacy scheme.
_context_rules(notice) := {"R6"} if {
	notice.intelligence_grading.scheme in data.safehub.grading.legacy_schemes
} else := set()

_intelligence(notice) if notice.notice_type in data.safehub.rules.R5.intelligence_types

# METADATA
# title: R5 police intelligence with handling P to MASH decision makers
# description: The MASH manager receives P-graded intelligence, to be handled as OFFICIAL-SENSITIVE.
# related_resources:
#   - ref: https://www.college.police.uk/app/intelligence-management/intelligence-report
#     description: 3x5x2 handling code P, lawful sharing permitted; ISA clause 4.3
_grants[sid] contains object.union(
	_grant("intelligence_decision_maker", sid),
	{"note": _intelligence_note(_notice)},
) if {
	_intelligence(_notice)
	_handling(_notice) == "P"
	not _unreliable(_notice)
	some sid, sub in data.safehub.subscribers
	_decision_maker(sub)
}

# METADATA
# title: R5 police intelligence to police in the MASH
# description: Police staff in the MASH see police intelligence whatever its handling code.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2018/12/schedule/8
#     description: DPA 2018 Part 3; ISA clause 4.3
_grants[sid] contains object.union(_grant("intelligence_police", sid), {"note": _intelligence_note(_notice)}) if {
	_intelligence(_notice)
	some sid, sub in data.safehub.subscribers
	_police(sub)
	_inside_mash(sub)
}

# METADATA
# title: R5 intelligence with handling P goes to decision makers only
# description: Other partners in the MASH see a "police hold intelligence" flag; nobody outside gets it.
# related_resources:
#   - ref: https://www.college.police.uk/app/intelligence-management/intelligence-report
#     description: 3x5x2 handling; ISA clause 4.3
_vetoes[sid] contains _veto("intelligence_decision_makers_only", sid, sub) if {
	_intelligence(_notice)
	_handling(_notice) == "P"
	some sid, sub in data.safehub.subscribers
	not _police(sub)
	not _decision_maker(sub)
}

# METADATA
# title: R5 handling C, police only with a flag for the MASH
# description: >-
#   Everyone but police: inside the MASH a "police hold confidential information" flag,
#   outside nothing.
# related_resources:
#   - ref: https://www.college.police.uk/app/intelligence-management/intelligence-report
#     description: 3x5x2 handling code C, sharing with conditions; ISA clause 4.3
_vetoes[sid] contains _veto("handling_c", sid, sub) if {
	_handling(_notice) == "C"
	some sid, sub in data.safehub.subscribers
	not _police(sub)
}

# METADATA
# title: R6 legacy handling 4 or 5, police only
# description: Nobody outside police receives anything, not even a flag.
# related_resources:
#   - ref: https://www.college.police.uk/app/intelligence-management/intelligence-report
#     description: Legacy 5x5x5 handling codes (mapping owned by the IG officer); ISA clause 4.3
_vetoes[sid] contains _veto("police_only_handling", sid, sub) if {
	_handling(_notice) == "POLICE_ONLY"
	some sid, sub in data.safehub.subscribers
	not _police(sub)
}

# METADATA
# title: R5/R6 missing or unknown handling code, police only
# description: Intelligence without a recognised handling code stays with police (fail closed).
# related_resources:
#   - ref: https://www.college.police.uk/app/intelligence-management/intelligence-report
#     description: Handling codes; ISA clause 4.3
_vetoes[sid] contains _veto("ungraded_intelligence", sid, sub) if {
	not _handling(_notice) in {"P", "C", "NONE", "POLICE_ONLY"}
	some sid, sub in data.safehub.subscribers
	not _police(sub)
}

# METADATA
# title: R5 grade E intelligence stays with police
# description: >-
#   Anything graded with intelligence assessed E (suspected to be false or malicious) is not
#   shared outside police without review: nobody but police gets anything, not even a flag.
# related_resources:
#   - ref: https://www.college.police.uk/app/intelligence-management/intelligence-report
#     description: 3x5x2 intelligence assessment E; ISA clause 4.3
_vetoes[sid] contains _veto("unreliable_intelligence", sid, sub) if {
	_unreliable(_notice)
	some sid, sub in data.safehub.subscribers
	not _police(sub)
}

# METADATA
# title: R5 nothing that could identify the source of intelligence leaves police
# description: >-
#   The referrer or reporting person, third parties and the unsanitised account of an
#   intelligence report stay with police; others get the sanitised text. Withheld silently:
#   saying that a source was withheld would itself point at one.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     description: Golden rule 5, protect the identity of people who could be harmed; ISA clause 4.3
_restrictions[sid] contains _restriction(
	"intelligence_source", sid,
	_source_identifying_paths,
) if {
	_intelligence(_notice)
	some sid in _sharing_candidates
	sub := data.safehub.subscribers[sid]
	not _police(sub)
}

# METADATA
# title: R5 source-identifying detail never leaves police
# description: >-
#   detail.source_details is withheld from every subscriber, including police staff in the
#   MASH: they can read it in the police record system, and no feed ever carries it.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     description: Golden rule 5, protect the identity of people who could be harmed; ISA clause 4.3
_restrictions[sid] contains _restriction("source_identity", sid, _source_paths) if {
	some sid in _sharing_candidates
}

# METADATA
# title: R5 an account marked police-confidential stays with police
# description: A full account with sensitivity POLICE_CONFIDENTIAL is withheld from non-police subscribers.
# related_resources:
#   - ref: https://www.legislation.gov.uk/ukpga/2018/12/schedule/8
#     description: DPA 2018 Part 3; ISA clause 4.3
_restrictions[sid] contains _restriction("police_confidential_account", sid, _police_account_paths) if {
	_notice.narrative.sensitivity in data.safehub.rules.R5.confidential_sensitivities
	some sid in _sharing_candidates
	sub := data.safehub.subscribers[sid]
	not _police(sub)
}

# METADATA
# title: R5 intelligence grading only to decision makers and police
# description: intelligence_grading is withheld from everyone else.
# related_resources:
#   - ref: https://www.college.police.uk/app/intelligence-management/intelligence-report
#     description: 3x5x2 grading; ISA clause 4.3
_restrictions[sid] contains _restriction("intelligence_grading", sid, _grading_paths) if {
	some sid in _sharing_candidates
	sub := data.safehub.subscribers[sid]
	not _police(sub)
	not _decision_maker(sub)
}

_source_identifying_paths := {path | some path in data.safehub.rules.R5.source_identifying_paths}

_source_paths := {path | some path in data.safehub.rules.R5.source_paths}

_police_account_paths := {path | some path in data.safehub.rules.R5.account_paths}

_grading_paths := {path | some path in data.safehub.rules.R5.grading_paths}
