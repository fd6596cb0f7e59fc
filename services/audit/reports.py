"""What IG officers read: decision views, the subject access report for one child, and the
record of processing (UK GDPR Art 30 style). Pure: stored leaves and decoded records in,
pydantic models (and HTML) out; the clock and the log's head are passed in.

Every line of every report cites the leaf index of the record it came from, so any line can
be proven to be in the signed log (`safehub audit proof inclusion --leaf-index N`). Reports
are built from the logged bytes, decoded, not from the index columns: the columns find
records, the bytes are the record.

Third parties in the subject access report
    Audit records hold no names, but the field paths they list can reveal that someone else
    was involved (who referred the child, other people named in the notice). The report
    collapses every such path into one neutral line ("information about other people...")
    in both what was shared and what was withheld, never says which kind it was, and leaves
    out free text a practitioner typed (a human decision-maker's rationale, a break-glass
    justification), which may mention other people. Recipients are named by organisation,
    role and team: staff are not named, and the records hold no staff names anyway.

A child with more than one key
    The child index may find that records held under different pseudonymous keys are one child
    (a merge) or that records it joined are two children (a split); the audit service keeps
    those changes (`services.audit.linkage`). The report for any one of a child's keys covers
    every key the child has now (`subject_keys`, the key asked about first): every decision
    about any of them, each line naming the key it was made under, and every change that named
    one of them (`linkage_changes`: merge or split, when, decided by a member of MASH staff
    (their staff id) or by the matching model). A key split off is another child's: its
    decisions are not in the report, and the changes that name it only count it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict

from services.audit.linkage import MODEL_DECIDER, LinkageChangeKind, LinkageChangeView
from services.audit.retractions import WithdrawalPublic
from services.audit.storage import ProcessingCount, StoredLeaf
from services.hubkit.notice import to_json_value

__all__ = [
    "OUTCOMES",
    "THIRD_PARTY_LABEL",
    "ConsoleAccessPublic",
    "ConsoleAccessesPublic",
    "ConsultationPublic",
    "ConsultedPublic",
    "DecisionAmendmentPublic",
    "DecisionPublic",
    "DecisionsPublic",
    "DisclosurePublic",
    "LawfulBasisPublic",
    "LinkageChangePublic",
    "LinkageDecisionPublic",
    "LogPositionPublic",
    "NotSharedPublic",
    "ProcessingRowPublic",
    "ProcessingSummaryPublic",
    "RecipientPublic",
    "RejectionPublic",
    "RejectionsPublic",
    "SubjectAccessReportPublic",
    "console_access_view",
    "consulted_lines",
    "decision_view",
    "field_labels",
    "linkage_change_view",
    "processing_summary",
    "rejection_view",
    "render_subject_access_html",
    "subject_access_report",
]

OUTCOMES = ("PERMIT", "PARTIAL", "FLAG_ONLY", "DENY")

THIRD_PARTY_LABEL = (
    "information about other people involved (not described further, to protect their identity)"
)
# Field paths that are about someone other than the child: never itemised in a report to the
# child, whether shared or withheld.
_THIRD_PARTY_PATHS = ("referrer", "third_parties")

_FIELD_LABELS: Mapping[str, str] = {
    "notice_id": "the notice's reference in the hub",
    "notice_type": "the kind of notice",
    "created_at": "when the notice was written",
    "classification": "its security classification",
    "intelligence_grading": "how police graded the information",
    "concerns": "the concerns identified",
    "contact_point": "who to contact at the sending agency",
    "source.agency": "which agency sent it",
    "source.organisation_code": "which organisation sent it",
    "source.source_system": "the sending system",
    "source.source_reference": "the sending agency's own reference",
    "subject.linkage_key": "the hub's pseudonymous reference for you",
    "subject.nhs_number": "your NHS number",
    "subject.la_child_id": "your local authority child reference",
    "subject.upn": "your unique pupil number",
    "subject.given_name": "your first name",
    "subject.family_name": "your family name",
    "subject.date_of_birth": "your date of birth",
    "subject.age_years": "your age",
    "subject.postcode_district": "your postcode district",
    "subject.looked_after": "whether you are looked after",
    "subject.responsible_la": "your responsible local authority",
    "subject.placing_la": "your placing local authority",
    "subject.exploitation_flagged": "whether an exploitation concern is flagged",
    "risk.level": "the assessed level of risk",
    "risk.immediate_danger": "whether there was immediate danger",
    "narrative.summary": "a summary of the concern",
    "narrative.full_account": "the full account of the concern",
    "narrative.sensitivity": "how sensitive the account is",
    "consent.status": "whether consent was sought",
    "consent.reason_not_sought": "why consent was not sought",
    "family_informed.informed": "whether your family was told",
    "family_informed.reason_not_informed": "why your family was not told",
}


def _is_third_party(path: str) -> bool:
    return any(path == p or path.startswith(p + ".") for p in _THIRD_PARTY_PATHS)


def field_labels(paths: Iterable[str]) -> list[str]:
    """Readable, de-duplicated labels for field paths, third-party paths collapsed into one."""
    labels: list[str] = []
    third_party = False
    for path in sorted(set(paths)):
        if _is_third_party(path):
            third_party = True
            continue
        if path in _FIELD_LABELS:
            label = _FIELD_LABELS[path]
        elif path.startswith("detail."):
            label = f"details of the event ({path.removeprefix('detail.').replace('_', ' ')})"
        else:
            label = path.replace(".", " ").replace("_", " ")
        if label not in labels:
            labels.append(label)
    if third_party:
        labels.append(THIRD_PARTY_LABEL)
    return labels


# ---------------------------------------------------------------------------------------------
# Models


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class RecipientPublic(_Public):
    subscriber_id: str
    agency: str
    organisation: str
    role: str
    team: str


class LawfulBasisPublic(_Public):
    article6: str
    special_category_condition: str | None
    dpa_part3: str | None
    statutory_gateway: str
    criminal_offence_condition: str | None = None
    recipient_basis: str | None = None
    text: str
    """The basis in one readable line."""


class LogPositionPublic(_Public):
    """Where the report's entries sit in the verifiable log when it was generated."""

    tree_size: int
    root_hash: str
    checkpoint_tree_size: int | None
    """Size of the latest signed checkpoint; entries below it can be proven now."""


class DecisionPublic(_Public):
    """One logged decision as an IG officer sees it: the whole record, plus its log position."""

    leaf_index: int
    duplicate_of: int | None
    """Leaf of the first record with this decision id, when the gateway re-emitted it."""
    decision_id: str
    event: str
    notice_id: str | None
    notice_type: str | None
    subject_linkage_key: str | None
    decided_at: dt.datetime
    disclosed_at: dt.datetime | None
    recipient: RecipientPublic | None
    originating_controller: str | None
    purpose: str | None
    lawful_basis: LawfulBasisPublic | None
    consent_status: str | None
    consent_reason_not_sought: str | None
    family_informed: bool | None
    family_not_informed_reason: str | None
    outcome: str | None
    fields_disclosed: list[str]
    fields_withheld: list[str]
    classification: str | None
    handling_code: str | None
    policy_revision: str
    rule_ids: list[str]
    isa_clause: str | None
    explanation: str
    reason_code: str | None
    human_decision_maker: str | None
    human_rationale: str | None
    break_glass: bool
    break_glass_justification: str | None
    retention_review_date: dt.date


class DecisionsPublic(_Public):
    """One page of decisions matching a query."""

    returned: int
    """Decisions on this page (not the number matching the query)."""
    limit: int
    offset: int
    next_offset: int | None = None
    """Where the next page starts when this page was full; null when there is no more."""
    items: list[DecisionPublic]


class LinkageDecisionPublic(_Public):
    """A review-queue decision made in the console (LINKAGE_DECIDED): pseudonymous keys, ids
    and the rationale's digest (the text stays with the child index)."""

    review_id: str
    left_child_key: str
    right_child_key: str
    outcome: str
    """SAME_CHILD or NOT_SAME_CHILD."""
    surviving_child_key: str | None
    match_probability: float | None
    rationale_sha256: str


class ChildSearchPublic(_Public):
    """A search for a child made in the console (CHILD_SEARCHED): why, by which kinds of
    identifier, how many the index matched and which children were shown (pseudonymous keys).
    What was typed is never in the log."""

    purpose: str
    identifiers_used: list[str]
    index_matches: int
    children_shown: list[str]


class ResearchCheckPublic(_Public):
    """An agency check in the MASH (RESEARCH_REQUESTED / RESEARCH_ANSWERED): which request,
    which partner desk, which child (pseudonymous key), when due, and for an answer whether
    anything was held and the partner's RAG. The question and findings only as digests."""

    request_id: str
    partner: str
    child_key: str
    due_by: dt.datetime
    question_sha256: str | None
    answer: str | None
    partner_rag: str | None
    findings_sha256: str | None


class ConsultationPublic(_Public):
    """What a person was shown in the console (NOTICE_VIEWED, CHILD_VIEWED,
    DANGER_ACKNOWLEDGED) and why: pseudonymous keys, notice ids (or their count and digest),
    source agencies. Nothing shown on the page is in the log."""

    purpose: str
    subject_linkage_key: str
    child_keys: list[str]
    notice_count: int
    notice_ids: list[str]
    notice_ids_sha256: str
    source_agencies: list[str]
    live_update: bool


class DecisionAmendmentPublic(_Public):
    """A MASH decision amended in the console (DECISION_AMENDED): the reason as a digest."""

    amended_decision_id: str
    amendment_decision_id: str
    child_key: str
    reason_sha256: str


class ConsoleAccessPublic(_Public):
    """One access event from the MASH console (a refusal, or a linkage decision), signed by
    the console's key."""

    leaf_index: int
    access_id: str
    event: str
    refusal_reason: str | None
    at: dt.datetime
    actor: str
    """Identity provider subject (an opaque id), or 'sha256:<hex>' of one of another form."""
    actor_roles: list[str]
    feed: RecipientPublic | None
    notice_id: str | None
    signed_by: str | None
    """Key id of the console key that signed the event."""
    linkage: LinkageDecisionPublic | None = None
    """For LINKAGE_DECIDED: the decision."""
    search: ChildSearchPublic | None = None
    """For CHILD_SEARCHED: the search."""
    research: ResearchCheckPublic | None = None
    """For RESEARCH_REQUESTED and RESEARCH_ANSWERED: the agency check."""
    consultation: ConsultationPublic | None = None
    """For NOTICE_VIEWED, CHILD_VIEWED and DANGER_ACKNOWLEDGED: what was shown and why."""
    amendment: DecisionAmendmentPublic | None = None
    """For DECISION_AMENDED: which decision was amended."""


class ConsoleAccessesPublic(_Public):
    total: int
    limit: int
    offset: int
    items: list[ConsoleAccessPublic]


class RejectionPublic(_Public):
    """A record an audit topic carried that failed its topic's check: never a decision. Its
    bytes are not in the log, only their digest, so it can be found on the topic."""

    leaf_index: int
    reason: str
    """A code from services.hubkit.audit_trail.RejectionReason, e.g. WRONG_SIGNER."""
    detail: str
    topic: str
    partition: int
    offset: int
    sha256: str
    length: int
    claimed_signer: str | None
    """Owner of the trusted key the record named, if any (whose key was misused)."""


class RejectionsPublic(_Public):
    total: int
    limit: int
    offset: int
    items: list[RejectionPublic]


class DisclosurePublic(_Public):
    """One disclosure of the child's information, as the child (or their advocate) reads it."""

    leaf_index: int
    decision_id: str
    disclosed_at: dt.datetime
    decided_at: dt.datetime
    notice_type: str | None
    source_organisation: str | None
    recipient_agency: str
    recipient_organisation: str
    recipient_role: str
    recipient_team: str
    purpose: str | None
    lawful_basis: str | None
    outcome: str
    information_shared: list[str]
    information_withheld: list[str]
    reason: str
    decided_by: str
    emergency_override: bool
    repeated_record: bool
    """True when the hub logged this decision more than once (a re-sent decision)."""
    subject_linkage_key: str
    """Which of the child's references the decision was made under."""
    withdrawn: WithdrawalPublic | None = None
    """Set when the sending agency later withdrew this notice and the withdrawal reached this
    recipient (issue 18): who withdrew it, why, when, and whether the recipient acknowledged.
    The row itself stays: the disclosure happened."""


class NotSharedPublic(_Public):
    """A decision not to share the child's information with a recipient, and why."""

    leaf_index: int
    decision_id: str
    decided_at: dt.datetime
    recipient_organisation: str
    recipient_role: str
    reason: str
    subject_linkage_key: str
    """Which of the child's references the decision was made under."""


class LinkageChangePublic(_Public):
    """A change to which records the hub treats as the child's: a merge or a split."""

    kind: str
    """MERGE (records under these references are one child) or SPLIT (records that had been
    joined are about different children)."""
    occurred_at: dt.datetime
    references: list[str]
    """The child's own references the change names (pseudonymous keys)."""
    other_references: int
    """How many references the change names that are someone else's (not shown)."""
    description: str
    decided_by: str
    staff_id: str | None
    """The MASH staff member's user id when a person decided; None for the matching model."""
    review_id: str | None
    match_probability: float | None


class ConsultedPublic(_Public):
    """A time someone looked at the child's records in the MASH console (DPA 2018 s62), as
    the child (or their advocate) reads it: who (staff id, role, organisation), when, why,
    and how many records."""

    leaf_index: int
    at: dt.datetime
    what: str
    """In words: 'viewed a record', 'viewed the records held about you', 'acknowledged an
    urgent alert'."""
    staff_id: str
    """The member of staff's user id at the identity provider (the organisation can say who
    that is)."""
    roles: list[str]
    organisation: str | None
    team: str | None
    purpose: str
    records_shown: int
    source_agencies: list[str]
    subject_linkage_key: str
    """Which of the child's references the view was about."""


class SubjectAccessReportPublic(_Public):
    subject_linkage_key: str
    generated_at: dt.datetime
    period_from: dt.datetime | None
    period_to: dt.datetime | None
    disclosures: list[DisclosurePublic]
    not_shared: list[NotSharedPublic]
    recipients: list[str]
    """Each organisation and role that received information, once."""
    log: LogPositionPublic
    notes: list[str]
    subject_keys: list[str]
    """Every reference of the child the report covers: the one asked about first."""
    linkage_changes: list[LinkageChangePublic]
    """Merges and splits that named any of them, oldest first (not limited to the period)."""
    consulted: list[ConsultedPublic] = []
    """Who looked at the child's records in the MASH console, oldest first."""


class ProcessingRowPublic(_Public):
    purpose: str | None
    recipient_subscriber_id: str | None
    recipient_agency: str | None
    recipient_organisation: str | None
    recipient_role: str | None
    outcomes: dict[str, int]
    decisions: int
    disclosures: int
    """Decisions that disclosed something (every outcome but DENY)."""


class ProcessingSummaryPublic(_Public):
    period_from: dt.datetime | None
    period_to: dt.datetime | None
    generated_at: dt.datetime
    rows: list[ProcessingRowPublic]
    totals: dict[str, int]
    notes: list[str]


# ---------------------------------------------------------------------------------------------
# Builders


def _utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return _utc(int(value))


def _cited(statute: str, value: str | None) -> str | None:
    """`value` as a citation that names its statute once.

    The policy data writes each basis in full ("UK GDPR Art 6(1)(e) public task", "DPA 2018
    Part 3 s35(5) ...") and every recorded decision carries that text, while the Avro doc's
    example is the bare "6(1)(e) public task": prefix the statute only where the value does
    not already name one (or says there is none), so neither reads "UK GDPR Art UK GDPR Art".
    """
    if not value:
        return None
    named = ("UK GDPR", "DPA 2018", "Art ", "none")
    return value if value.startswith(named) else f"{statute} {value}"


def _basis(record: Mapping[str, Any]) -> LawfulBasisPublic | None:
    basis = record.get("lawful_basis")
    if not basis:
        return None
    parts = [
        _cited("UK GDPR Art", basis["article6"]),
        basis.get("special_category_condition"),
        _cited("DPA 2018 Part 3", basis.get("dpa_part3")),
        _cited("UK GDPR Art 10", basis.get("criminal_offence_condition")),
        basis["statutory_gateway"],
        (
            f"recipient's basis: {basis['recipient_basis']}"
            if basis.get("recipient_basis")
            else None
        ),
    ]
    return LawfulBasisPublic(
        article6=basis["article6"],
        special_category_condition=basis.get("special_category_condition"),
        dpa_part3=basis.get("dpa_part3"),
        statutory_gateway=basis["statutory_gateway"],
        criminal_offence_condition=basis.get("criminal_offence_condition"),
        recipient_basis=basis.get("recipient_basis"),
        text="; ".join(p for p in parts if p),
    )


def decision_view(leaf: StoredLeaf, record: Mapping[str, Any]) -> DecisionPublic:
    """The IG view of one decision leaf from its decoded record."""
    recipient = record.get("recipient")
    decided_at = _as_datetime(record["decided_at"])
    disclosed = record.get("disclosed_at")
    review = record["retention_review_date"]
    return DecisionPublic(
        leaf_index=leaf.leaf_index,
        duplicate_of=leaf.duplicate_of,
        decision_id=str(record["decision_id"]),
        event=str(record["event"]),
        notice_id=record.get("notice_id"),
        notice_type=record.get("notice_type"),
        subject_linkage_key=record.get("subject_linkage_key"),
        decided_at=decided_at,
        disclosed_at=None if disclosed is None else _as_datetime(disclosed),
        recipient=RecipientPublic(**recipient) if recipient else None,
        originating_controller=record.get("originating_controller"),
        purpose=record.get("purpose"),
        lawful_basis=_basis(record),
        consent_status=record.get("consent_status"),
        consent_reason_not_sought=record.get("consent_reason_not_sought"),
        family_informed=record.get("family_informed"),
        family_not_informed_reason=record.get("family_not_informed_reason"),
        outcome=record.get("outcome"),
        fields_disclosed=list(record.get("fields_disclosed") or []),
        fields_withheld=list(record.get("fields_withheld") or []),
        classification=record.get("classification"),
        handling_code=record.get("handling_code"),
        policy_revision=str(record["policy_revision"]),
        rule_ids=list(record.get("rule_ids") or []),
        isa_clause=record.get("isa_clause"),
        explanation=str(record["explanation"]),
        reason_code=record.get("reason_code"),
        human_decision_maker=record.get("human_decision_maker"),
        human_rationale=record.get("human_rationale"),
        break_glass=bool(record.get("break_glass")),
        break_glass_justification=record.get("break_glass_justification"),
        retention_review_date=review
        if isinstance(review, dt.date)
        else dt.date.fromisoformat(str(to_json_value(review))),
    )


def console_access_view(
    leaf: StoredLeaf, record: Mapping[str, Any], *, signed_by: str | None
) -> ConsoleAccessPublic:
    """The IG view of one console access leaf from its decoded ConsoleAccess event."""
    feed = record.get("feed")
    linkage = record.get("linkage")
    search = record.get("search")
    return ConsoleAccessPublic(
        leaf_index=leaf.leaf_index,
        access_id=str(record["access_id"]),
        event=str(record["event"]),
        refusal_reason=record.get("refusal_reason"),
        at=_as_datetime(record["at"]),
        actor=str(record["actor"]),
        actor_roles=list(record.get("actor_roles") or []),
        feed=RecipientPublic(**feed) if feed else None,
        notice_id=record.get("notice_id"),
        signed_by=signed_by,
        linkage=LinkageDecisionPublic(**linkage) if linkage else None,
        search=ChildSearchPublic(**search) if search else None,
        research=_research_view(record.get("research")),
        consultation=ConsultationPublic(**record["consultation"])
        if record.get("consultation")
        else None,
        amendment=DecisionAmendmentPublic(**record["amendment"])
        if record.get("amendment")
        else None,
    )


def _research_view(research: Mapping[str, Any] | None) -> ResearchCheckPublic | None:
    if not research:
        return None
    return ResearchCheckPublic(
        **{**research, "request_id": str(research["request_id"])},
    )


def rejection_view(leaf: StoredLeaf, body: Mapping[str, Any]) -> RejectionPublic:
    """The IG view of one REJECTED leaf from its decoded JSON."""
    return RejectionPublic(
        leaf_index=leaf.leaf_index,
        reason=str(body["reason"]),
        detail=str(body["detail"]),
        topic=str(body["topic"]),
        partition=int(body["partition"]),
        offset=int(body["offset"]),
        sha256=str(body["sha256"]),
        length=int(body["length"]),
        claimed_signer=body.get("claimed_signer"),
    )


def _decided_by(role: str | None) -> str:
    if role:
        return f"a {str(role).replace('_', ' ').lower()}, applying the sharing rules"
    return "the hub's sharing rules, automatically"


def linkage_change_view(view: LinkageChangeView) -> LinkageChangePublic:
    """One merge or split as the child's report shows it."""
    change = view.change
    by_model = change.decided_by == MODEL_DECIDER
    if by_model:
        decided_by = "the hub's matching model, automatically"
    elif change.review_id is not None:
        decided_by = f"a member of MASH staff (staff id {change.decided_by}), after review"
    else:
        decided_by = f"a member of MASH staff (staff id {change.decided_by})"
    if change.kind is LinkageChangeKind.MERGE:
        description = (
            "The hub recognised that records it held under different references are about "
            "the same child, and joined them."
        )
        if view.other_references:
            description += (
                f" Records under {view.other_references} of those references were later found "
                "to be about someone else and separated again; they are not in this report."
            )
    else:
        description = (
            "The hub found that records it had joined are not all about the same child, and "
            "separated them. The records about someone else are not in this report."
        )
    return LinkageChangePublic(
        kind=change.kind.value,
        occurred_at=view.occurred_at,
        references=list(view.keys),
        other_references=view.other_references,
        description=description,
        decided_by=decided_by,
        staff_id=None if by_model else change.decided_by,
        review_id=change.review_id,
        match_probability=change.match_probability,
    )


def subject_access_report(
    *,
    subject_linkage_key: str,
    decisions: Sequence[DecisionPublic],
    generated_at: dt.datetime,
    log: LogPositionPublic,
    period_from: dt.datetime | None = None,
    period_to: dt.datetime | None = None,
    subject_keys: Collection[str] = (),
    linkage: Sequence[LinkageChangeView] = (),
    consultations: Sequence[ConsoleAccessPublic] = (),
    withdrawals: Sequence[WithdrawalPublic] = (),
) -> SubjectAccessReportPublic:
    """Every disclosure of one child's information, and every decision not to share it.

    `decisions` are the child's logged sharing decisions (other events are ignored).
    `subject_keys` are every key of the child (`linkage.keys_of_child`; the key asked about
    is always covered) and `linkage` the changes that named them (`linkage.linkage_history`).
    `consultations` are console access events indexed under the child's keys: the views
    among them (who looked at the child's records) are listed. `withdrawals` are the
    withdrawals delivered for the child's notices (`retraction_api.notice_withdrawals`): a
    disclosure of a withdrawn notice to a recipient it reached is marked `withdrawn`.
    """
    withdrawn = {(w.notice_id, w.subscriber_id): w for w in withdrawals}
    keys = [subject_linkage_key, *sorted(set(subject_keys) - {subject_linkage_key})]
    covered = frozenset(keys)
    disclosures: list[DisclosurePublic] = []
    not_shared: list[NotSharedPublic] = []
    for d in sorted(decisions, key=lambda d: (d.decided_at, d.leaf_index)):
        if d.event != "SHARING_DECISION" or d.subject_linkage_key not in covered:
            continue
        recipient = d.recipient
        if recipient is None:
            continue
        if d.disclosed_at is None or d.outcome == "DENY":
            not_shared.append(
                NotSharedPublic(
                    leaf_index=d.leaf_index,
                    decision_id=d.decision_id,
                    decided_at=d.decided_at,
                    recipient_organisation=recipient.organisation,
                    recipient_role=recipient.role,
                    reason=d.explanation,
                    subject_linkage_key=d.subject_linkage_key,
                )
            )
            continue
        disclosures.append(
            DisclosurePublic(
                leaf_index=d.leaf_index,
                decision_id=d.decision_id,
                disclosed_at=d.disclosed_at,
                decided_at=d.decided_at,
                notice_type=d.notice_type,
                source_organisation=d.originating_controller,
                recipient_agency=recipient.agency,
                recipient_organisation=recipient.organisation,
                recipient_role=recipient.role,
                recipient_team=recipient.team,
                purpose=d.purpose,
                lawful_basis=d.lawful_basis.text if d.lawful_basis else None,
                outcome=d.outcome or "",
                information_shared=field_labels(d.fields_disclosed),
                information_withheld=field_labels(d.fields_withheld),
                reason=d.explanation,
                decided_by=_decided_by(d.human_decision_maker),
                emergency_override=d.break_glass,
                repeated_record=d.duplicate_of is not None,
                subject_linkage_key=d.subject_linkage_key,
                withdrawn=withdrawn.get((d.notice_id or "", recipient.subscriber_id)),
            )
        )
    recipients = sorted({f"{d.recipient_organisation} ({d.recipient_role})" for d in disclosures})
    notes = [
        "Each line cites the leaf index of its record in the hub's verifiable audit log; "
        "an inclusion proof for any line can be checked against the log's signed checkpoint "
        "with the hub's public key.",
        "Information about other people (for example who raised a concern) is not itemised, "
        "to protect their identity.",
        "Free-text notes written by practitioners are not included, as they may mention "
        "other people; ask the information governance team if you need them reviewed.",
    ]
    if any(d.withdrawn for d in disclosures):
        notes.append(
            "Where an agency later withdrew information it had sent (for example because it "
            "was about the wrong child), the original sharing is still listed, marked as "
            "withdrawn, with when and whether the recipient confirmed it."
        )
    if len(keys) > 1 or linkage:
        notes.append(
            "Agencies may hold records about you that the hub first kept under different "
            "references. This report covers every reference the hub now holds for you, and "
            "lists when records were joined or separated and who decided. Records found to be "
            "about someone else are not included, and their references are not shown."
        )
    return SubjectAccessReportPublic(
        subject_linkage_key=subject_linkage_key,
        generated_at=generated_at,
        period_from=period_from,
        period_to=period_to,
        disclosures=disclosures,
        not_shared=not_shared,
        recipients=recipients,
        log=log,
        notes=notes,
        subject_keys=keys,
        linkage_changes=[linkage_change_view(v) for v in linkage],
        consulted=consulted_lines(consultations, covered),
    )


_CONSULTED_WHAT = {
    "NOTICE_VIEWED": "viewed a record",
    "CHILD_VIEWED": "viewed the records held about you",
    "DANGER_ACKNOWLEDGED": "acknowledged an urgent alert about you",
}
_PURPOSE_WORDS = {
    "MASH_TRIAGE": "deciding what should happen next (MASH triage)",
    "PARTNER_RESEARCH": "checking their agency's records for the MASH",
    "CASE_WORK": "working on your case",
    "CHILD_SEARCH": "opened from a search for you",
}


def consulted_lines(
    events: Sequence[ConsoleAccessPublic], covered: Collection[str]
) -> list[ConsultedPublic]:
    """The views among `events` that were about one of the child's keys, oldest first, each
    once (the same leaf found under two keys is one line)."""
    lines: dict[int, ConsultedPublic] = {}
    for e in events:
        c = e.consultation
        if c is None or e.event not in _CONSULTED_WHAT or c.subject_linkage_key not in covered:
            continue
        lines[e.leaf_index] = ConsultedPublic(
            leaf_index=e.leaf_index,
            at=e.at,
            what=_CONSULTED_WHAT[e.event] + (" (as it updated)" if c.live_update else ""),
            staff_id=e.actor,
            roles=e.actor_roles,
            organisation=e.feed.organisation if e.feed else None,
            team=e.feed.team if e.feed else None,
            purpose=_PURPOSE_WORDS.get(c.purpose, c.purpose),
            records_shown=c.notice_count,
            source_agencies=c.source_agencies,
            subject_linkage_key=c.subject_linkage_key,
        )
    return sorted(lines.values(), key=lambda line: (line.at, line.leaf_index))


def processing_summary(
    counts: Sequence[ProcessingCount],
    *,
    generated_at: dt.datetime,
    period_from: dt.datetime | None,
    period_to: dt.datetime | None,
) -> ProcessingSummaryPublic:
    """Per purpose and recipient, decisions by outcome over the period."""
    rows: dict[tuple[Any, ...], dict[str, int]] = {}
    meta: dict[tuple[Any, ...], ProcessingCount] = {}
    for c in counts:
        key = (
            c.purpose,
            c.recipient_subscriber_id,
            c.recipient_agency,
            c.recipient_organisation,
            c.recipient_role,
        )
        outcomes = rows.setdefault(key, dict.fromkeys(OUTCOMES, 0))
        outcomes[c.outcome or "UNKNOWN"] = outcomes.get(c.outcome or "UNKNOWN", 0) + c.count
        meta[key] = c
    totals = dict.fromkeys(OUTCOMES, 0)
    public_rows = []
    for key in sorted(rows, key=lambda k: tuple(v or "" for v in k)):
        outcomes = rows[key]
        for outcome, n in outcomes.items():
            totals[outcome] = totals.get(outcome, 0) + n
        c = meta[key]
        decided = sum(outcomes.values())
        public_rows.append(
            ProcessingRowPublic(
                purpose=c.purpose,
                recipient_subscriber_id=c.recipient_subscriber_id,
                recipient_agency=c.recipient_agency,
                recipient_organisation=c.recipient_organisation,
                recipient_role=c.recipient_role,
                outcomes=outcomes,
                decisions=decided,
                disclosures=decided - outcomes.get("DENY", 0),
            )
        )
    return ProcessingSummaryPublic(
        period_from=period_from,
        period_to=period_to,
        generated_at=generated_at,
        rows=public_rows,
        totals=totals,
        notes=[
            "Counts are sharing decisions by decided-at time, one per decision id (a decision "
            "the gateway re-sent is counted once). DENY rows have no purpose: nothing was "
            "disclosed.",
        ],
    )


# ---------------------------------------------------------------------------------------------
# HTML

# The page itself is services/audit/templates/subject_access.html (shipped as package data).
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("services.audit", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

_SAR_TEMPLATE = _ENV.get_template("subject_access.html")


def render_subject_access_html(report: SubjectAccessReportPublic) -> str:
    """The subject access report as a readable, self-contained HTML page (escaped)."""
    return _SAR_TEMPLATE.render(r=report)
