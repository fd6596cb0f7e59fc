"""The short names people read for each kind of agency (safehub.notice.Agency): "Health",
"Police". One list for every service that shows an agency to a person: the console's pages,
the audit service's reports and figures, and the words of a withdrawal ("Withdrawn by Health:
wrong child") the gateway records. An organisation's registered name ("Synthetic NHS Trust")
is in the topology; this is the kind of agency.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["AGENCY_LABELS", "agency_label"]

AGENCY_LABELS: Mapping[str, str] = {
    "POLICE": "Police",
    "HEALTH": "Health",
    "CHILDRENS_SERVICES": "Children's services",
    "VOLUNTARY_SECTOR": "Voluntary sector",
    "EDUCATION": "Education",
    "MASH": "MASH",
    "CPIS": "CP-IS",
}


def agency_label(code: str | None, *, unknown: str = "the sending agency") -> str:
    """The short name of agency `code`; its code when it has none, `unknown` when None."""
    if not code:
        return unknown
    return AGENCY_LABELS.get(code, code)
