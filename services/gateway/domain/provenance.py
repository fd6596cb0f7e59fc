"""What a feed item carries of the agency's per-field signatures (hubkit.field_provenance).

Pure. The gateway checked the notice's SD-JWT at intake (domain/intake.py): it discloses
exactly the notice's fields (its disclosure units), with exactly their values. Here it picks,
for one decision, the disclosures of exactly the fields in that decision's view and none of
the withheld ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.gateway.domain.redaction import is_permitted
from services.hubkit.field_provenance import IssuedProvenance, presentation_for

__all__ = ["view_presentation"]


def view_presentation(issued: IssuedProvenance | None, permitted: Iterable[str]) -> str | None:
    """The agency's SD-JWT presentation for the view of a decision permitting `permitted`,
    or None.

    None when the notice carried no field signatures, and when `source.agency` is not
    permitted: the signature names its signer (kid, iss), and so the source the decision
    withholds (need to know).

    The fields chosen are the notice's units a permitted path covers whole: exactly the
    units of the redacted view, since intake matched the disclosures to the notice's units
    and redaction copies every covered unit that holds information (worked out from the
    permitted set, not by decoding the view again: this runs for every distinct view of
    every notice). A unit a permitted path covers only in part (a path below a container's
    field, detail.x.y) gets no disclosure: its disclosure would carry the withheld rest; the
    recipient sees that field as resting on the hub's signature alone."""
    if issued is None:
        return None
    allowed = frozenset(permitted)
    if not is_permitted("source.agency", allowed):
        return None
    return presentation_for(issued, (p for p in issued.disclosures if is_permitted(p, allowed)))
