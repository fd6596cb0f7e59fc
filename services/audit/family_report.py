"""The subject access report a family can read (issue 17): who holds information about the
child, who was told what kind of information, when and why, who asked and was not told, what
is not included and on what exemption, and who looked at the records. Two versions: one for
the parent or carer, one for the child (short sentences, reading age about 13). Pure: built
from the detailed report (`reports.subject_access_report`), which stays the DPO's audit annex.

The IG officer's review
    Nothing here is sent as it is built. The IG officer reads the draft, chooses rows to leave
    out (each with a reason), and approves it (`apply_review`). Rows whose exemption needs a
    person's judgement are marked (`needs_review`): the law asks for a decision, not a rule
    (DPA 2018 Sch 2 para 16: other people's information; Sch 3 paras 5 and 7: serious harm;
    Sch 2 para 2: crime). Every row has a stable id so the review can name it.

Organisations are named, not coded ("Synthetic NHS Trust", not NHS-RXX00): the names come from
the policy data (`organisation_names`, from the hub's topology). Who was told is one row per
organisation, role, kinds of information, purpose and law, with the first and last date and
how many times, so a child with many notices gets a report of a few pages, not one row per
decision (the DPO's annex keeps every decision).

Exemptions are taken from what the log says was kept back: fields about other people, police
intelligence, health detail, social care accounts, and notes practitioners typed. The
words for each are in `_EXEMPTIONS`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from enum import StrEnum

import jinja2
from pydantic import BaseModel, ConfigDict

from services.audit.reports import DisclosurePublic, SubjectAccessReportPublic
from services.hubkit.topology import Topology

__all__ = [
    "Audience",
    "ExemptionPublic",
    "FamilyReportPublic",
    "FamilyReviewPublic",
    "LookedLinePublic",
    "NotToldLinePublic",
    "ReviewInvalid",
    "ToldLinePublic",
    "WithdrawnLinePublic",
    "WithheldLinePublic",
    "apply_review",
    "family_report",
    "organisation_names",
    "render_family_html",
    "source_agencies",
]


class Audience(StrEnum):
    """Who the report is written for."""

    PARENT = "parent"
    CHILD = "child"


class ReviewInvalid(ValueError):
    """A review names a row the report does not have, or leaves a row out without a reason."""


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class ExemptionPublic(_Public):
    code: str
    law: str
    """The legal citation, e.g. 'DPA 2018 Sch 2 para 16'."""
    words: str
    """Why, in plain words for the family."""
    needs_review: bool
    """True when the law asks the IG officer to decide, not a rule."""


class ToldLinePublic(_Public):
    """One organisation and role told the same kinds of information for the same reason,
    `times` times from `when` to `last`."""

    row_id: str
    when: dt.date
    last: dt.date | None = None
    """The last time, when told more than once."""
    times: int = 1
    who: str
    what: list[str]
    why: str
    law: str


class WithdrawnLinePublic(_Public):
    """Information an organisation sent and later took back (issue 18), in plain words; the
    row in "who was told" stays, because the telling happened."""

    row_id: str
    when: dt.date
    """When it was taken back."""
    who: str
    """Who had been told (and was told to stop using it)."""
    by: str
    """The organisation that took it back."""
    why: str
    confirmed: str
    """Whether, and when, the organisation told confirmed it."""


class NotToldLinePublic(_Public):
    row_id: str
    when: dt.date
    who: str
    why: str


class WithheldLinePublic(_Public):
    row_id: str
    what: str
    exemption: ExemptionPublic


class LookedLinePublic(_Public):
    row_id: str
    when: dt.date
    who: str
    why: str


class FamilyReviewPublic(_Public):
    """The IG officer's decision on a draft: rows left out (with reasons) and who approved."""

    approved_by: str
    approved_at: dt.datetime
    left_out: dict[str, str]
    """Row id -> the IG officer's reason for leaving it out."""


class FamilyReportPublic(_Public):
    audience: Audience
    generated_at: dt.datetime
    holders: list[str]
    """Organisations that hold information about the child (sent it, or were told it)."""
    told: list[ToldLinePublic]
    not_told: list[NotToldLinePublic]
    withheld: list[WithheldLinePublic]
    looked: list[LookedLinePublic]
    withdrawn: list[WithdrawnLinePublic] = []
    """Information sent and later taken back (the "told" rows stay)."""
    review: FamilyReviewPublic | None = None
    """None while a draft; set once the IG officer approved it."""

    def row_ids(self) -> list[str]:
        return [
            *(r.row_id for r in self.told),
            *(r.row_id for r in self.not_told),
            *(r.row_id for r in self.withdrawn),
            *(r.row_id for r in self.withheld),
            *(r.row_id for r in self.looked),
        ]


# ---------------------------------------------------------------------------------------------
# Words

_ROLE_WORDS: Mapping[str, str] = {
    "MASH_MANAGER": "the manager of the safeguarding team (MASH)",
    "HEALTH_NAVIGATOR": "the safeguarding nurse in the MASH",
    "POLICE_RESEARCHER": "a police officer in the MASH",
    "SOCIAL_WORKER": "a social worker",
    "DESIGNATED_SAFEGUARDING_LEAD": "the safeguarding lead at school",
    "RETURN_INTERVIEW_WORKER": "a return home interview worker",
}

_PURPOSE_WORDS: Mapping[str, str] = {
    "SAFEGUARDING_TRIAGE": "to decide if {you} needed help to stay safe",
    "CHILD_PROTECTION_ENQUIRY": "to check if {you} {were} safe (a child protection enquiry)",
    "IMMEDIATE_SAFEGUARDING": "because {you} might have been in danger right away",
    "LOOKED_AFTER_CARE": "to look after {you} in care",
    "OPERATION_ENCOMPASS": "so school could support {you} after trouble at home",
    "POLICING_SAFEGUARDING": "so the police could help keep {you} safe",
    "EARLY_HELP_SUPPORT": "to give your family support, which you agreed to",
    "RETURN_HOME_INTERVIEW": "so someone could talk with {you} after a time away from home",
    "UNSCHEDULED_CARE": "so health staff could care for {you} safely",
    "REFERRER_FEEDBACK": "to tell the person who raised a worry what happened next",
}

_LAW_WORDS: Mapping[str, str] = {
    "6(1)(e)": "the law lets public bodies share to do their job of keeping children safe",
    "6(1)(c)": "the law says they must share (Children Act 1989)",
    "6(1)(d)": "it was needed to protect someone's life",
    "6(1)(a)": "your family agreed",
    "6(1)(f)": "the charity had a good reason and it was fair",
}

_EXEMPTIONS: Mapping[str, ExemptionPublic] = {
    e.code: e
    for e in (
        ExemptionPublic(
            code="THIRD_PARTY",
            law="DPA 2018 Sch 2 para 16",
            words="It is about other people, like the person who raised a worry. "
            "We keep it private to protect them.",
            needs_review=True,
        ),
        ExemptionPublic(
            code="CRIME",
            law="DPA 2018 Sch 2 para 2",
            words="It is police information. Sharing it could harm work to stop crime.",
            needs_review=True,
        ),
        ExemptionPublic(
            code="SERIOUS_HARM_HEALTH",
            law="DPA 2018 Sch 3 para 5",
            words="It is health information. A health worker must first check "
            "it would not cause serious harm.",
            needs_review=True,
        ),
        ExemptionPublic(
            code="SERIOUS_HARM_SOCIAL_WORK",
            law="DPA 2018 Sch 3 para 7",
            words="It is a social work account. We must check it would not cause "
            "serious harm to {you} or someone else.",
            needs_review=True,
        ),
        ExemptionPublic(
            code="PRACTITIONER_NOTES",
            law="DPA 2018 Sch 2 para 16",
            words="These are notes staff wrote. They may name other people, so we "
            "check them first.",
            needs_review=True,
        ),
    )
}

_WITHHELD_WHAT: Mapping[str, str] = {
    "THIRD_PARTY": "Details about other people involved",
    "CRIME": "Police intelligence",
    "SERIOUS_HARM_HEALTH": "Health details from a doctor or nurse",
    "SERIOUS_HARM_SOCIAL_WORK": "The full account written by a worker",
    "PRACTITIONER_NOTES": "Notes staff wrote about their decisions",
}

# What kind of information, from the detailed report's field labels (reports.field_labels):
# a family reads kinds, not thirty field names. First match wins; order matters.
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("details about other people (not described here)", ("other people",)),
    ("the full account a worker wrote", ("full account",)),
    (
        "who {you} {are}: name, date of birth and reference numbers",
        (
            "first name",
            "family name",
            "date of birth",
            "NHS number",
            "child reference",
            "pupil number",
            "your age",
            "postcode",
            "pseudonymous reference",
        ),
    ),
    ("{your} care and which council is responsible", ("looked after", "local authority")),
    ("whether {your} family was told or agreed", ("family was told", "family was not", "consent")),
    (
        "what the worry was and how serious",
        ("concern", "risk", "danger", "exploitation", "details of the event"),
    ),
)
_OTHER_KIND = "where the information came from and when"


def _kinds(labels: list[str]) -> list[str]:
    kinds: list[str] = []
    for label in labels:
        kind = next((k for k, words in _KINDS if any(w in label for w in words)), _OTHER_KIND)
        if kind not in kinds:
            kinds.append(kind)
    order = [k for k, _ in _KINDS] + [_OTHER_KIND]
    return sorted(kinds, key=order.index)


_NOT_TOLD_WORDS = (
    "The sharing rules said they did not need this information",
    "The sharing rules did not let them see it",
)

_LOOKED_WORDS: Mapping[str, str] = {
    "deciding what should happen next (MASH triage)": "to decide what should happen next",
    "checking their agency's records for the MASH": "to check their own records for the MASH",
    "working on your case": "to work on {your} case",
    "opened from a search for you": "after searching for {you}",
}


_ADDRESS: Mapping[Audience, Mapping[str, str]] = {
    Audience.CHILD: {"you": "you", "your": "your", "were": "were", "are": "are"},
    Audience.PARENT: {"you": "your child", "your": "your child's", "were": "was", "are": "is"},
}


_WITHDRAWN_WORDS = {
    "WRONG_CHILD": "it was about a different child, not {you}",
    "ENTERED_IN_ERROR": "it was written down by mistake",
    "CORRECTED": "it had a mistake in it, so they sent a corrected version",
}
"""Why information was taken back (hubkit.retraction.RetractionReason), in plain words."""
_WITHDRAWN_OTHER = "they asked for it to be taken back"


def _say(text: str, audience: Audience) -> str:
    """Words addressed to the reader: 'you' for the child, 'your child' for a parent."""
    return text.format_map(_ADDRESS[audience])


def _who(organisation: str, role: str, names: Mapping[str, str]) -> str:
    words = _ROLE_WORDS.get(role, "a worker (" + role.replace("_", " ").lower() + ")")
    return f"{words} at {names.get(organisation, organisation)}"


def organisation_names(topology: Topology) -> dict[str, str]:
    """Organisation code -> the name a family knows it by: each agency's name (policy data
    `agencies`); for a subscriber's organisation that is no agency (a school), the organisation
    its contact names (`contact` reads "role, organisation, telephone")."""
    names = {a.organisation: a.name for a in topology.agencies}
    for s in topology.subscribers:
        parts = [p.strip() for p in s.contact.split(",")]
        if s.organisation not in names and len(parts) >= 3 and parts[1]:
            names[s.organisation] = parts[1]
    return names


def source_agencies(topology: Topology) -> dict[str, str]:
    """Organisation code -> the kind of agency it is (POLICE, HEALTH, ...), for exemptions."""
    return {a.organisation: a.code for a in topology.agencies}


def _law_words(basis: str | None) -> str:
    if not basis:
        return "the sharing rules allowed it"
    for code, words in _LAW_WORDS.items():
        if code in basis:
            return f"{words} ({basis})"
    return basis


def _row_id(prefix: str, *parts: object) -> str:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:10]
    return f"{prefix}-{digest}"


def _exemptions_for(d: DisclosurePublic, *, source_agency: str | None) -> list[str]:
    """Which exemptions what the log says was kept back points to (codes of `_EXEMPTIONS`)."""
    codes: list[str] = []
    withheld = " ".join(d.information_withheld + d.information_shared)
    if "other people" in withheld:
        codes.append("THIRD_PARTY")
    if d.notice_type == "POLICE_INTELLIGENCE" or source_agency == "POLICE":
        codes.append("CRIME")
    if d.notice_type == "HEALTH_SAFEGUARDING_ALERT" or source_agency == "HEALTH":
        codes.append("SERIOUS_HARM_HEALTH")
    if "full account" in withheld or source_agency == "CHILDRENS_SERVICES":
        codes.append("SERIOUS_HARM_SOCIAL_WORK")
    return codes


def _source_agency(d: DisclosurePublic, agencies: Mapping[str, str]) -> str | None:
    return agencies.get(d.source_organisation or "")


def family_report(
    report: SubjectAccessReportPublic,
    *,
    audience: Audience,
    source_agencies: Mapping[str, str] | None = None,
    organisation_names: Mapping[str, str] | None = None,
) -> FamilyReportPublic:
    """The family's draft report from the detailed one (nothing is left out until review).

    `source_agencies` maps an organisation code to its agency kind (POLICE, HEALTH,
    CHILDRENS_SERVICES, ...), where known: it picks the exemption for what that agency sent.
    `organisation_names` maps a code to its name (a code without one is shown as it is).
    """
    agencies = source_agencies or {}
    names = organisation_names or {}
    groups: dict[tuple[object, ...], list[DisclosurePublic]] = {}
    for d in sorted(report.disclosures, key=lambda d: (d.disclosed_at, d.decision_id)):
        kinds = tuple(_kinds(d.information_shared))
        same = (d.recipient_organisation, d.recipient_role, kinds, d.purpose, d.lawful_basis)
        groups.setdefault(same, []).append(d)
    told = [
        ToldLinePublic(
            row_id=_row_id("told", *sorted(d.decision_id for d in ds)),
            when=ds[0].disclosed_at.date(),
            last=ds[-1].disclosed_at.date() if len(ds) > 1 else None,
            times=len(ds),
            who=_who(ds[0].recipient_organisation, ds[0].recipient_role, names),
            what=[_say(k, audience) for k in _kinds(ds[0].information_shared)],
            why=_say(_PURPOSE_WORDS.get(ds[0].purpose or "", "to help keep {you} safe"), audience),
            law=_law_words(ds[0].lawful_basis),
        )
        for ds in groups.values()
    ]
    not_told = [
        NotToldLinePublic(
            row_id=_row_id("not-told", n.decision_id),
            when=n.decided_at.date(),
            who=_who(n.recipient_organisation, n.recipient_role, names),
            why=_NOT_TOLD_WORDS[1 if "ceiling" in n.reason.lower() else 0],
        )
        for n in report.not_shared
    ]
    codes: list[str] = []
    for d in report.disclosures:
        for code in _exemptions_for(d, source_agency=_source_agency(d, agencies)):
            if code not in codes:
                codes.append(code)
    # Practitioners' notes are never in the detailed report either (reports.py): say so.
    codes.append("PRACTITIONER_NOTES")
    withheld = [
        WithheldLinePublic(
            row_id=_row_id("withheld", code),
            what=_WITHHELD_WHAT[code],
            exemption=_EXEMPTIONS[code].model_copy(
                update={"words": _say(_EXEMPTIONS[code].words, audience)}
            ),
        )
        for code in codes
    ]
    looked = [
        LookedLinePublic(
            row_id=_row_id("looked", c.leaf_index),
            when=c.at.date(),
            who=_who(c.organisation or "the MASH", c.roles[0] if c.roles else "STAFF", names),
            why=_say(_LOOKED_WORDS[c.purpose], audience)
            if c.purpose in _LOOKED_WORDS
            else c.purpose,
        )
        for c in report.consulted
    ]
    withdrawn = [
        WithdrawnLinePublic(
            row_id=_row_id("withdrawn", d.decision_id),
            when=w.withdrawn_at.date(),
            who=_who(d.recipient_organisation, d.recipient_role, names),
            by=names.get(d.source_organisation or "", d.source_organisation or w.withdrawn_by),
            why=_say(
                _WITHDRAWN_WORDS.get(w.reason, "they asked for it to be taken back"), audience
            ),
            confirmed=(
                f"They said they had removed it on {w.acknowledged_at:%-d %b %Y}"
                if w.acknowledged_at
                else "They have not yet said they removed it"
            ),
        )
        for d in sorted(report.disclosures, key=lambda d: (d.disclosed_at, d.decision_id))
        if (w := d.withdrawn) is not None
    ]
    holders = sorted(
        {names.get(o, o) for d in report.disclosures if (o := d.source_organisation)}
        | {
            names.get(d.recipient_organisation, d.recipient_organisation)
            for d in report.disclosures
        }
    )
    return FamilyReportPublic(
        audience=audience,
        generated_at=report.generated_at,
        holders=holders,
        told=told,
        not_told=not_told,
        withheld=withheld,
        looked=looked,
        withdrawn=withdrawn,
    )


def apply_review(
    draft: FamilyReportPublic,
    *,
    left_out: Mapping[str, str],
    approved_by: str,
    approved_at: dt.datetime,
) -> FamilyReportPublic:
    """The approved report: the rows the IG officer left out removed, the review recorded.
    Raises ReviewInvalid for an unknown row or a row left out without a reason."""
    known = set(draft.row_ids())
    unknown = sorted(set(left_out) - known)
    if unknown:
        raise ReviewInvalid(f"the report has no row {', '.join(unknown)}; reload the draft")
    blank = sorted(row for row, reason in left_out.items() if not reason.strip())
    if blank:
        raise ReviewInvalid(f"give a reason for leaving out {', '.join(blank)}")
    keep = known - set(left_out)
    return draft.model_copy(
        update={
            "told": [r for r in draft.told if r.row_id in keep],
            "not_told": [r for r in draft.not_told if r.row_id in keep],
            "withdrawn": [r for r in draft.withdrawn if r.row_id in keep],
            "withheld": [r for r in draft.withheld if r.row_id in keep],
            "looked": [r for r in draft.looked if r.row_id in keep],
            "review": FamilyReviewPublic(
                approved_by=approved_by,
                approved_at=approved_at,
                left_out={k: v.strip() for k, v in sorted(left_out.items())},
            ),
        }
    )


# ---------------------------------------------------------------------------------------------
# HTML (the PDF is rendered from the same page)

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("services.audit", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render_family_html(
    report: FamilyReportPublic,
    *,
    for_review: bool = False,
    review_action: str = "",
    pdf_url: str = "",
) -> str:
    """The family's report as an accessible page; with `for_review`, the IG officer's review
    form around it (a checkbox and reason per row)."""
    return _ENV.get_template("family_report.html").render(
        r=report,
        child=report.audience is Audience.CHILD,
        for_review=for_review,
        review_action=review_action,
        pdf_url=pdf_url,
    )
