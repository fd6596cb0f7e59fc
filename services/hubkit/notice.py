"""Plain-data helpers for SafeguardingNotice: deterministic ids, encoding, JSON views.

A notice is handled as the plain dict fastavro reads and writes; these helpers keep the few
rules about it in one place.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from services.hubkit.codec import MessageType, SchemaCatalog

__all__ = [
    "DETAIL_RECORD",
    "NOTICE_NAMESPACE",
    "concern",
    "decision_id_for",
    "encode_notice",
    "hub_uuid5",
    "notice_id_for",
    "to_json_value",
    "to_utc",
]

# Fixed namespace for the hub's UUIDv5 ids: same inputs, same id, on every machine.
NOTICE_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5c6d-9e0f-5afe5afe0001")

# notice_type -> the union branch of `detail` it must carry.
DETAIL_RECORD: Mapping[str, str] = {
    "SAFEGUARDING_CONTACT": "safehub.notice.detail.SafeguardingContactDetail",
    "DOMESTIC_ABUSE_INCIDENT": "safehub.notice.detail.DomesticAbuseDetail",
    "MISSING_EPISODE": "safehub.notice.detail.MissingEpisodeDetail",
    "EXPLOITATION_CONCERN": "safehub.notice.detail.ExploitationConcernDetail",
    "TRAFFICKING_NRM": "safehub.notice.detail.TraffickingNrmDetail",
    "HEALTH_SAFEGUARDING_ALERT": "safehub.notice.detail.HealthSafeguardingAlertDetail",
    "CSC_STATUS_CHANGE": "safehub.notice.detail.CscStatusChangeDetail",
    "POLICE_INTELLIGENCE": "safehub.notice.detail.PoliceIntelligenceDetail",
    "MASH_DECISION": "safehub.notice.detail.MashDecisionDetail",
    "VCS_UPDATE": "safehub.notice.detail.VcsUpdateDetail",
}


_NAMESPACE_BYTES = NOTICE_NAMESPACE.bytes


def hub_uuid5(name: str) -> str:
    """`str(uuid.uuid5(NOTICE_NAMESPACE, name))` (RFC 4122 version 5): the hub's ids,
    derived without building a UUID object on the way, which took most of the time: the
    gateway derives ten of these per notice."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    hex_ = digest.hex()
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


def notice_id_for(*, agency: str, organisation_code: str, source_reference: str) -> str:
    """The same source record always yields the same notice id (idempotent publishing)."""
    return hub_uuid5(f"notice:{agency}:{organisation_code}:{source_reference}")


def decision_id_for(*, notice_id: str, subscriber_id: str) -> str:
    """One decision per (notice, subscriber): a retried notice gets the same decision ids."""
    return hub_uuid5(f"decision:{notice_id}:{subscriber_id}")


def encode_notice(catalog: SchemaCatalog, notice: Mapping[str, Any]) -> bytes:
    """Encode with the detail branch named explicitly, so similar detail records never clash."""
    branch = DETAIL_RECORD[notice["notice_type"]]
    tagged = {**notice, "detail": (branch, notice["detail"])}
    return catalog.encode(MessageType.NOTICE, tagged)


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_json_value(value: Any) -> Any:
    """Render a decoded Avro value as JSON: RFC 3339 times with +00:00, never a bare Z.

    The embedded engine (regopy) cannot parse times ending in Z, and both engines must see
    byte-identical input for the parity guarantee.
    """
    # Exact types first: most of a notice is plain strings, numbers and dicts, and the
    # isinstance checks below (the Mapping ABC above all) cost more than the conversion.
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is dict:
        return {str(k): to_json_value(v) for k, v in value.items()}
    if kind is list:
        return [to_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def to_utc(value: dt.datetime) -> dt.datetime:
    """An aware datetime in UTC, truncated to milliseconds (the notice's time resolution)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime reached mapping; models must require an offset")
    utc = value.astimezone(dt.UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def concern(code: str, census_factor: str | None = None) -> dict[str, Any]:
    """A notice's Concern: a concern code and, where it has one, its CIN census factor."""
    return {"code": code, "census_factor": census_factor}
