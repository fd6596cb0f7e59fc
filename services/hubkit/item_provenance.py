"""A feed item's fields checked against the agency's own signature: the one recipient-side
check every reader of a feed makes (the console, `safehub feed verify`).

A FeedItem carries `field_provenance`, the agency's SD-JWT presentation for exactly the
fields of its view (hubkit.field_provenance). A reader checks it against the view it holds
and the notice id the item names. The hub may raise one field: the classification, when a
handling caveat marks the copy higher than the agency did (gateway records.py,
`redacted_view_json`); a lower or unknown marking is not what the agency signed.

Pure: the caller passes the trusted key directory (the agencies' envelope keys).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import ProvenanceInvalid
from services.hubkit.field_provenance import ViewProvenance, verify_view
from services.hubkit.sharing_decisions import CLASSIFICATION_ORDER

__all__ = ["HUB_RAISABLE", "classification_raised", "item_provenance"]


def classification_raised(view_value: Any, signed_value: Any) -> bool:
    """True when the view's marking is one the hub may put there: a known marking at or above
    the one the agency signed (a handling caveat only ever raises it)."""
    if view_value not in CLASSIFICATION_ORDER or signed_value not in CLASSIFICATION_ORDER:
        return False
    return CLASSIFICATION_ORDER.index(view_value) >= CLASSIFICATION_ORDER.index(signed_value)


HUB_RAISABLE: Mapping[str, Callable[[Any, Any], bool]] = {"classification": classification_raised}
"""The fields the hub may change in a view, and the check that it changed them only upward."""


def item_provenance(item: Mapping[str, Any], agency_keys: KeyDirectory) -> ViewProvenance | None:
    """The item's view checked against the agency's per-field signature.

    None when the item carries none (an older publisher's notice, or the source agency is
    withheld from this recipient: the signature would name it); ProvenanceInvalid (with a
    reason code and a field path, never a value) when any field does not verify."""
    presentation = item.get("field_provenance")
    if presentation is None:
        return None
    try:
        view = json.loads(item["view_json"])
    except (KeyError, TypeError, ValueError):
        raise ProvenanceInvalid("malformed", "the item's view is not JSON") from None
    if not isinstance(view, dict):
        raise ProvenanceInvalid("malformed", "the item's view is not a JSON object")
    return verify_view(
        presentation,
        view,
        notice_id=str(item["notice_id"]),
        keys=agency_keys,
        raisable=HUB_RAISABLE,
    )
