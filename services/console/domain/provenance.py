"""Per-field provenance as the console keeps and shows it (issue 19): whether the fields of
an item were checked against the agency's own signature, which were, and which rest on the
hub's signature alone.

The check itself is hubkit.item_provenance (one copy for every reader of a feed); it runs
once, when the item is projected (feeds.py), and its outcome is kept with the item, so a
page view costs nothing. What is kept names fields (paths) and the signer's principal,
never a value.

`None` on an entry means not checked (an item kept before this check existed, or an
emergency access copy): nothing is said about it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.console.domain.labels import field_label
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import ProvenanceInvalid
from services.hubkit.item_provenance import item_provenance

__all__ = [
    "FieldProvenance",
    "ProvenanceNotice",
    "ProvenanceState",
    "checked_provenance",
    "provenance_from_record",
    "provenance_notice",
    "provenance_record",
]


class ProvenanceState(enum.StrEnum):
    VERIFIED = "verified"
    """The fields carrying an agency disclosure are exactly what the agency signed."""
    NONE = "none"
    """The item carries no agency signature (source withheld from this reader, or a notice
    from a publisher that signs no fields)."""
    INVALID = "invalid"
    """A field is not what the agency signed (or the signature does not verify)."""


@dataclass(frozen=True, slots=True)
class FieldProvenance:
    state: ProvenanceState
    signer: str | None = None
    """The principal whose key signed the fields (e.g. adapter-police), when verified."""
    verified: tuple[str, ...] = ()
    raised: tuple[str, ...] = ()
    """Fields the hub marked higher (the classification under a handling caveat)."""
    hub_only: tuple[str, ...] = ()
    reason: str | None = None
    """ProvenanceInvalid.reason, when invalid."""
    path: str | None = None
    """The field that failed, when one did."""


def checked_provenance(item: Mapping[str, Any], agency_keys: KeyDirectory) -> FieldProvenance:
    """A FeedItem's fields checked against its agency's signature (never raises)."""
    try:
        checked = item_provenance(item, agency_keys)
    except ProvenanceInvalid as error:
        return FieldProvenance(ProvenanceState.INVALID, reason=error.reason, path=error.path)
    if checked is None:
        return FieldProvenance(ProvenanceState.NONE)
    return FieldProvenance(
        ProvenanceState.VERIFIED,
        signer=checked.signer,
        verified=checked.verified,
        raised=checked.raised,
        hub_only=checked.hub_only,
    )


def provenance_record(provenance: FieldProvenance) -> dict[str, Any]:
    """What the stored projection keeps (inside the item's sealed JSON)."""
    return {
        "state": provenance.state.value,
        "signer": provenance.signer,
        "verified": list(provenance.verified),
        "raised": list(provenance.raised),
        "hub_only": list(provenance.hub_only),
        "reason": provenance.reason,
        "path": provenance.path,
    }


def provenance_from_record(record: Any) -> FieldProvenance | None:
    """The outcome kept by `provenance_record`; None for an item kept without one."""
    if not isinstance(record, Mapping):
        return None
    return FieldProvenance(
        ProvenanceState(record["state"]),
        signer=record.get("signer"),
        verified=tuple(record.get("verified") or ()),
        raised=tuple(record.get("raised") or ()),
        hub_only=tuple(record.get("hub_only") or ()),
        reason=record.get("reason"),
        path=record.get("path"),
    )


@dataclass(frozen=True, slots=True)
class ProvenanceNotice:
    """What the item page says about where its fields come from."""

    warning: bool
    """True: a prominent alert (role=alert), not a status line."""
    heading: str
    text: str
    fields: tuple[str, ...] = ()
    """Field labels the text refers to (hub-only fields, or the one that failed)."""


def provenance_notice(
    provenance: FieldProvenance | None,
    *,
    view: Mapping[str, Any],
    signer_labels: Mapping[str, str],
) -> ProvenanceNotice | None:
    """The page's words for an outcome; None when the item was not checked.

    `signer_labels` maps a signer's principal to its agency's label."""
    if provenance is None:
        return None
    if provenance.state is ProvenanceState.INVALID:
        where = f" ({field_label(provenance.path)})" if provenance.path else ""
        return ProvenanceNotice(
            warning=True,
            heading="Do not rely on this notice's fields",
            text=(
                f"A field does not match what the agency signed{where}: do not rely on it; "
                "tell the hub operator."
            ),
            fields=(field_label(provenance.path),) if provenance.path else (),
        )
    if provenance.state is ProvenanceState.NONE:
        source = view.get("source")
        named = isinstance(source, Mapping) and bool(source.get("agency"))
        return ProvenanceNotice(
            warning=False,
            heading="Where these fields come from",
            text=(
                "This notice came without the agency's own signature over its fields: "
                "these fields rest on the hub's signature."
                if named
                else "The source is withheld from you: these fields rest on the hub's signature."
            ),
        )
    signer = signer_labels.get(provenance.signer or "", provenance.signer or "the agency")
    checked = len(provenance.verified) + len(provenance.raised)
    text = f"Checked against {signer}'s own signature: {checked} field{'s' * (checked != 1)}."
    if provenance.raised:
        text += " The hub raised the security marking, as it may."
    if provenance.hub_only:
        text += " These rest on the hub's signature alone:"
    return ProvenanceNotice(
        warning=False,
        heading="Where these fields come from",
        text=text,
        fields=tuple(field_label(p) for p in provenance.hub_only),
    )
