"""`safehub policy explain --notice-id ID` with no notice file: what the hub decided.

Read from the local audit store, as `safehub audit check|export|proof` read it: it works on
the machine that runs the hub with no API running and no sign-in. (The IG API would log the
look-up itself as an access; this reads the operator's own copy, like the other `safehub
audit` commands.) Every decision the log holds for the notice is shown, recipient by
recipient: outcome, rules that fired, fields disclosed and withheld, policy revision and the
explanation recorded at the time.

The notice's content is not in the audit log (by design: the log records decisions, not
what the notice said), so this never re-evaluates the notice or shows its fields' values.

`render_logged` is pure; `read_logged_decisions` does the I/O.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

from services.audit.reports import DecisionPublic, decision_view
from services.audit.storage import AuditStore, DecisionQuery
from services.hubkit.audit_trail import read_logged_record
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import CodecError

__all__ = ["CONTENT_NOT_KEPT", "read_logged_decisions", "render_logged"]

CONTENT_NOT_KEPT = (
    "The notice itself is not kept in the audit log (by design: the log records each "
    "decision, not what the notice said), so its content cannot be shown or re-evaluated "
    "here; to re-run the policy on it, ask the sending agency for the notice and run "
    "`safehub policy explain <file>`."
)
_MOST_DECISIONS = 10_000


def read_logged_decisions(
    store: AuditStore, catalog: SchemaCatalog, notice_id: str
) -> list[DecisionPublic]:
    """Every decision the log holds for `notice_id`, in log order (duplicates included)."""
    decisions: list[DecisionPublic] = []
    for leaf in store.find(DecisionQuery(notice_id=notice_id, limit=_MOST_DECISIONS)):
        try:
            logged = read_logged_record(catalog, leaf.data)
        except CodecError:
            continue  # not a decision record this catalogue reads; `safehub audit check` does
        if logged.message_type is MessageType.AUDIT_RECORD:
            decisions.append(decision_view(leaf, logged.record))
    return decisions


def _row(label: str, text: str) -> list[str]:
    """`  Label:  text`, wrapped under the text column like `policy explain <file>`."""
    first = f"  {label:<15}"
    return textwrap.wrap(
        text, width=96, initial_indent=first, subsequent_indent=" " * len(first)
    ) or [first.rstrip()]


def _join(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "none"


def render_logged(
    notice_id: str,
    decisions: Sequence[DecisionPublic],
    *,
    read_from: str,
    rule_summaries: Mapping[str, str],
    subscriber: str | None = None,
) -> list[str]:
    """The hub's recorded decisions on one notice, recipient by recipient, as an IG officer
    reads them. Named by notice id and linkage key only, as the log holds them."""
    first = decisions[0]
    lines = [
        f"Notice {notice_id}, as the hub decided it",
        f"  Type:          {first.notice_type or 'not recorded'}",
        f"  Child:         linkage key {first.subject_linkage_key or 'not recorded'}",
        f"  Read from:     {read_from}",
        *_row("Note:", CONTENT_NOT_KEPT),
        "",
    ]
    chosen = [
        d
        for d in decisions
        if subscriber is None or (d.recipient and d.recipient.subscriber_id == subscriber)
    ]
    if not chosen:
        lines.append(f"{subscriber}: the log holds no decision for this recipient on this notice")
    fired: set[str] = set()
    for decision in chosen:
        recipient = decision.recipient
        who = (
            f"{recipient.subscriber_id}: {recipient.role} ({recipient.organisation})"
            if recipient
            else "no recipient (the notice was not delivered to anyone)"
        )
        lines.append(
            who
            + (
                f" [re-emitted copy of leaf {decision.duplicate_of}]"
                if decision.duplicate_of is not None
                else ""
            )
        )
        lines.append(f"  Decision:      {decision.outcome or 'none'} ({decision.event})")
        lines.append(f"  Decided at:    {decision.decided_at.isoformat()}")
        lines += _row("Why:", decision.explanation)
        lines.append(f"  Rules:         {_join(decision.rule_ids)}")
        lines.append(f"  Purpose:       {decision.purpose or 'none'}")
        if decision.lawful_basis is not None:
            lines += _row("Lawful basis:", decision.lawful_basis.text)
        if decision.isa_clause:
            lines.append(f"  ISA clause:    {decision.isa_clause}")
        lines.append(f"  Policy:        {decision.policy_revision}")
        disclosed, withheld = decision.fields_disclosed, decision.fields_withheld
        lines += _row(f"Disclosed ({len(disclosed)}):", _join(disclosed))
        lines += _row(f"Withheld ({len(withheld)}):", _join(withheld))
        lines.append(f"  Log leaf:      {decision.leaf_index}")
        lines.append("")
        fired.update(decision.rule_ids)
    if fired:
        lines.append("The rules named above (as policies/ words them now):")
        for rule in sorted(fired, key=lambda r: (len(r), r)):
            lines.append(f"  {rule:<5}{rule_summaries.get(rule, '(no summary in isa/data.json)')}")
    return lines
