"""School unique reference numbers (URNs): one canonical form, however a sender writes one.

Operation Encompass (rule R9) routes a domestic abuse notice to the child's school by URN,
and a school subscriber is registered as "URN-<6 digits>". Senders write the same URN in
many ways ("123456", "URN 123456", "urn-123456", " URN:123456 "); a notice that kept the
sender's spelling would silently miss the school, so every URN is normalised to the
canonical form before it leaves an adapter, and anything that is not a 6-digit URN is
refused rather than guessed at.
"""

from __future__ import annotations

import re

__all__ = ["SCHOOL_URN_PREFIX", "normalise_school_urn"]

SCHOOL_URN_PREFIX = "URN-"

# An optional "URN" label, at most one separator, then exactly six ASCII digits (re.ASCII:
# other scripts' digits are not a URN).
_URN = re.compile(r"(?:URN\s*[-:_]?\s*)?([0-9]{6})", re.IGNORECASE | re.ASCII)


def normalise_school_urn(text: str) -> str | None:
    """The canonical "URN-<6 digits>", or None when `text` is not a school URN. Pure."""
    match = _URN.fullmatch(text.strip())
    return f"{SCHOOL_URN_PREFIX}{match.group(1)}" if match else None
