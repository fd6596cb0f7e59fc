"""Words a triage worker reads instead of codes. Pure lookups with a readable fallback, so a
code added to a schema later still shows as words rather than breaking a page."""

from __future__ import annotations

from collections.abc import Mapping

from services.hubkit.agency_labels import AGENCY_LABELS

__all__ = [
    "AGENCY_LABELS",
    "CONCERN_LABELS",
    "FIELD_LABELS",
    "MASH_OUTCOME_LABELS",
    "NOTICE_TYPE_LABELS",
    "PURPOSE_LABELS",
    "RAG_LABELS",
    "RISK_LABELS",
    "ROLE_LABELS",
    "SHARING_LABELS",
    "concern_label",
    "field_label",
    "humanise",
    "label",
]

NOTICE_TYPE_LABELS: Mapping[str, str] = {
    "SAFEGUARDING_CONTACT": "Safeguarding contact",
    "DOMESTIC_ABUSE_INCIDENT": "Domestic abuse incident",
    "MISSING_EPISODE": "Missing episode",
    "EXPLOITATION_CONCERN": "Exploitation concern",
    "TRAFFICKING_NRM": "Trafficking (NRM referral)",
    "HEALTH_SAFEGUARDING_ALERT": "Health safeguarding alert",
    "CSC_STATUS_CHANGE": "Children's social care status change",
    "POLICE_INTELLIGENCE": "Police intelligence",
    "MASH_DECISION": "MASH decision",
    "VCS_UPDATE": "Voluntary sector update",
}
CONCERN_LABELS: Mapping[str, str] = {
    "CHILD_SEXUAL_EXPLOITATION": "Child sexual exploitation",
    "CHILD_CRIMINAL_EXPLOITATION": "Child criminal exploitation",
    "COUNTY_LINES": "County lines",
    "ONLINE_HARM": "Online harm",
    "TRAFFICKING": "Trafficking",
    "MISSING": "Missing",
    "NEGLECT": "Neglect",
    "PHYSICAL_ABUSE": "Physical abuse",
    "SEXUAL_ABUSE": "Sexual abuse",
    "EMOTIONAL_ABUSE": "Emotional abuse",
    "DOMESTIC_ABUSE": "Domestic abuse",
    "SELF_HARM": "Self-harm",
    "MENTAL_HEALTH": "Mental health",
    "SUBSTANCE_MISUSE": "Substance misuse",
    "FGM": "FGM",
    "GANGS": "Gangs",
    "OTHER": "Other",
}
RAG_LABELS: Mapping[str, str] = {"RED": "Red", "AMBER": "Amber", "GREEN": "Green"}
RISK_LABELS: Mapping[str, str] = {
    "NO_APPARENT_RISK": "No apparent risk",
    "LOW": "Low",
    "MEDIUM": "Medium",
    "HIGH": "High",
}
MASH_OUTCOME_LABELS: Mapping[str, str] = {
    "NFA": "No further action",
    "ADVICE_SIGNPOSTING": "Advice and signposting",
    "EARLY_HELP": "Early help",
    "S17_ASSESSMENT": "Child in need assessment (s17)",
    "S47_STRATEGY_DISCUSSION": "Strategy discussion (s47)",
    "IMMEDIATE_PROTECTION": "Immediate protection",
    "OPEN_CASE": "Open case: to the allocated worker",
}
SHARING_LABELS: Mapping[str, str] = {
    "PERMIT": "Shared in full",
    "PARTIAL": "Shared in part",
    "FLAG_ONLY": "Flag only: content held by the source",
    "DENY": "Not shared",
}
PURPOSE_LABELS: Mapping[str, str] = {
    "SAFEGUARDING_TRIAGE": "Safeguarding triage",
    "CHILD_PROTECTION_ENQUIRY": "Child protection enquiry",
    "HEALTH_SAFEGUARDING": "Health safeguarding",
    "POLICING_SAFEGUARDING": "Policing (safeguarding)",
    "LOOKED_AFTER_CARE": "Care of a looked-after child",
    "RETURN_HOME_INTERVIEW": "Return home interview",
    "OPERATION_ENCOMPASS": "Operation Encompass",
}
ROLE_LABELS: Mapping[str, str] = {
    "MASH_MANAGER": "MASH manager",
    "HEALTH_NAVIGATOR": "Health navigator",
    "POLICE_RESEARCHER": "Police researcher",
    "SOCIAL_WORKER": "Social worker",
    "IG_OFFICER": "Information governance officer",
}
# Field paths of a notice (policies/safehub/fields/data.json) as a reader would name them.
FIELD_LABELS: Mapping[str, str] = {
    "created_at": "Recorded by the source",
    "classification": "Classification",
    "concerns": "Concerns",
    "intelligence_grading": "Intelligence grading",
    "referrer": "Referrer",
    "third_parties": "Other people named",
    "contact_point": "Contact at the source",
    "source.agency": "Source agency",
    "source.organisation_code": "Source organisation",
    "source.source_reference": "Source reference",
    "source.source_system": "Source system",
    "subject.nhs_number": "NHS number",
    "subject.la_child_id": "LA child ID",
    "subject.upn": "Unique pupil number",
    "subject.given_name": "Given name",
    "subject.family_name": "Family name",
    "subject.date_of_birth": "Date of birth",
    "subject.age_years": "Age",
    "subject.postcode_district": "Postcode district",
    "subject.looked_after": "Looked after",
    "subject.responsible_la": "Responsible local authority",
    "subject.placing_la": "Placing local authority",
    "subject.exploitation_flagged": "Flagged for exploitation",
    "risk.level": "Source's risk level",
    "risk.immediate_danger": "Immediate danger",
    "narrative.summary": "Summary",
    "narrative.full_account": "Full account",
    "narrative.sensitivity": "Sensitivity",
    "consent.status": "Consent",
    "consent.reason_not_sought": "Why consent was not sought",
    "family_informed.informed": "Family told",
    "family_informed.reason_not_informed": "Why the family was not told",
    "detail.dash_risk": "DASH risk",
    "detail.marac_referral": "MARAC referral",
    "detail.school_urn": "School (URN)",
    "detail.risk_grade": "Police risk grade",
    "detail.ssda903_code": "SSDA903 code",
    "detail.return_interview_due_at": "Return interview due",
    "detail.snomed_codes": "SNOMED CT codes",
    "detail.cpis_flag": "CP-IS flag",
    "detail.released_for_cp_decision": "Released for a child protection decision",
    "detail.cp_category": "Child protection category",
    "detail.rag": "RAG rating",
    "detail.outcome": "Decision",
    "detail.rationale": "Rationale",
    "detail.family_agreement": "Family agreed to early help",
    "detail.decided_by_role": "Decided by",
    "detail.related_notice_ids": "Notices decided on",
    "detail.agreed_actions": "Agreed actions",
    "detail.referring_organisations": "Outcome told to (referring organisations)",
    "detail.early_help_organisation": "Early help organisation",
    "detail.episodes_last_90_days": "Missing episodes in the last 90 days",
}


def humanise(code: str) -> str:
    """`SOME_CODE` or `some_code` as `Some code`."""
    words = code.replace("_", " ").replace(".", " ").strip().lower()
    return words[:1].upper() + words[1:]


def label(table: Mapping[str, str], code: str | None, *, missing: str = "Not known") -> str:
    if code is None or code == "":
        return missing
    return table.get(code, humanise(code))


def concern_label(code: str, census_factor: str | None = None) -> str:
    text = label(CONCERN_LABELS, code)
    return f"{text} ({census_factor})" if census_factor else text


def field_label(path: str) -> str:
    if path in FIELD_LABELS:
        return FIELD_LABELS[path]
    return humanise(path.rsplit(".", 1)[-1])
