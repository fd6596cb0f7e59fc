"""Intake's check of a notice's per-field provenance (the agency's SD-JWT on its envelope):
it must verify, be signed with the envelope's key and match the notice field for field, or
the notice is rejected (BAD_SIGNATURE, the detail naming the failed check)."""

import datetime as dt
from typing import Any

import pytest

from services.gateway.domain.intake import accept_notice
from services.gateway.errors import NoticeRejected
from services.hubkit import field_provenance
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.notice import encode_notice, to_json_value
from services.hubkit.publisher import NoticePublisher
from services.hubkit.topology import load_topology
from tests.factories import POLICIES, catalog, notices

CATALOG = catalog()
POLICE = load_topology(POLICIES).agency("POLICE")
AT = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
POLICE_KEY = SigningKey.generate("adapter-police")
HEALTH_KEY = SigningKey.generate("adapter-health")
KEYS = KeyDirectory.of([POLICE_KEY, HEALTH_KEY])


def _notice(**changes: Any) -> dict[str, Any]:
    return notices().notice("SAFEGUARDING_CONTACT", **changes)


def _read_back(notice: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """The encoded payload and the notice as the gateway reads it (what the agency signs)."""
    payload = encode_notice(CATALOG, notice)
    return payload, to_json_value(CATALOG.decode(payload, MessageType.NOTICE))


def _accept(value: bytes, notice: dict[str, Any]) -> Any:
    key = str(notice["subject"]["linkage_key"]).encode()
    return accept_notice(catalog=CATALOG, keys=KEYS, agency=POLICE, key=key, value=value)


def _rejection(value: bytes, notice: dict[str, Any]) -> NoticeRejected:
    with pytest.raises(NoticeRejected) as caught:
        _accept(value, notice)
    return caught.value


def _sealed_with(notice: dict[str, Any], provenance: str) -> bytes:
    payload, _ = _read_back(notice)
    return seal(CATALOG, payload, POLICE_KEY, AT, field_provenance=provenance)


def test_a_published_notice_keeps_its_verified_field_signatures() -> None:
    notice = _notice()
    publisher = NoticePublisher(
        producer=None,  # only seal_notice is used
        catalog=CATALOG,
        agency=POLICE,
        signing_key=POLICE_KEY,
        clock=lambda: AT,
    )
    accepted = _accept(publisher.seal_notice(notice), notice)
    assert accepted.provenance is not None
    assert accepted.provenance.key_id == POLICE_KEY.key_id
    assert accepted.provenance.disclosures.keys() == (
        field_provenance.disclosure_units(accepted.notice).keys()
    )


def test_a_notice_without_field_signatures_is_accepted_without_any() -> None:
    notice = _notice()
    payload, _ = _read_back(notice)
    assert _accept(seal(CATALOG, payload, POLICE_KEY, AT), notice).provenance is None


def test_a_tampered_sd_jwt_is_rejected() -> None:
    notice = _notice()
    _, signed = _read_back(notice)
    issued = field_provenance.issue(signed, POLICE_KEY, AT)
    jwt, rest = issued.split("~", 1)
    header, claims, signature = jwt.split(".")
    # One character of the signed claims changed: the agency's signature no longer holds.
    claims = claims[:-2] + ("A" if claims[-2] != "A" else "B") + claims[-1]
    rejection = _rejection(_sealed_with(notice, f"{header}.{claims}.{signature}~{rest}"), notice)
    assert rejection.reason == "BAD_SIGNATURE"
    assert "field provenance" in rejection.detail
    assert rejection.notice_id == notice["notice_id"]


def test_a_disclosure_the_agency_did_not_sign_is_rejected() -> None:
    notice = _notice()
    _, signed = _read_back(notice)
    _, forged = _read_back({**notice, "classification": "OFFICIAL"})
    jwt = field_provenance.issue(signed, POLICE_KEY, AT).split("~")[0]
    # The genuine JWT, with disclosures from another issuance (other salts): not in its list.
    disclosures = field_provenance.issue(forged, POLICE_KEY, AT).split("~", 1)[1]
    rejection = _rejection(_sealed_with(notice, f"{jwt}~{disclosures}"), notice)
    assert rejection.reason == "BAD_SIGNATURE"
    assert "not_signed" in rejection.detail


def test_fields_signed_by_another_agencys_key_are_rejected() -> None:
    notice = _notice()
    _, signed = _read_back(notice)
    # HEALTH_KEY is trusted, and its SD-JWT verifies, but the notice is police's.
    rejection = _rejection(
        _sealed_with(notice, field_provenance.issue(signed, HEALTH_KEY, AT)), notice
    )
    assert rejection.reason == "BAD_SIGNATURE"
    assert "wrong_key" in rejection.detail


def test_fields_signed_by_an_untrusted_key_are_rejected() -> None:
    notice = _notice()
    _, signed = _read_back(notice)
    stranger = SigningKey.generate("adapter-police")
    rejection = _rejection(
        _sealed_with(notice, field_provenance.issue(signed, stranger, AT)), notice
    )
    assert rejection.reason == "BAD_SIGNATURE"
    assert "unknown_signer" in rejection.detail


def test_field_signatures_lacking_a_field_are_rejected() -> None:
    notice = _notice()
    _, signed = _read_back(notice)
    lacking = {**signed, "narrative": {**signed["narrative"], "summary": None}}
    rejection = _rejection(
        _sealed_with(notice, field_provenance.issue(lacking, POLICE_KEY, AT)), notice
    )
    assert rejection.reason == "BAD_SIGNATURE"
    assert "incomplete" in rejection.detail
    assert "narrative.summary" in rejection.detail


def test_field_signatures_with_a_different_value_are_rejected() -> None:
    notice = _notice()
    _, signed = _read_back(notice)
    summary = signed["narrative"]["summary"]
    other = {**signed, "narrative": {**signed["narrative"], "summary": summary + " (changed)"}}
    rejection = _rejection(
        _sealed_with(notice, field_provenance.issue(other, POLICE_KEY, AT)), notice
    )
    assert rejection.reason == "BAD_SIGNATURE"
    assert "altered" in rejection.detail
    assert summary not in rejection.detail  # a path, never a value


def test_field_signatures_of_another_notice_are_rejected() -> None:
    synthetic = notices()
    notice = synthetic.notice("SAFEGUARDING_CONTACT")
    _, other = _read_back(synthetic.notice("SAFEGUARDING_CONTACT"))
    assert other["notice_id"] != notice["notice_id"]
    rejection = _rejection(
        _sealed_with(notice, field_provenance.issue(other, POLICE_KEY, AT)), notice
    )
    assert rejection.reason == "BAD_SIGNATURE"
    assert "wrong_notice" in rejection.detail
