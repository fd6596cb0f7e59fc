import datetime as dt
from typing import Any

import pytest

from services.gateway.domain.intake import AcceptedNotice, accept_notice
from services.gateway.errors import NoticeRejected
from services.hubkit.codec import MAGIC, MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.notice import encode_notice
from services.hubkit.topology import AgencyEntry, load_topology
from tests.factories import POLICIES, catalog, notices

CATALOG = catalog()
TOPOLOGY = load_topology(POLICIES)
POLICE = TOPOLOGY.agency("POLICE")
HEALTH = TOPOLOGY.agency("HEALTH")
AT = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
POLICE_KEY = SigningKey.generate("adapter-police")
HEALTH_KEY = SigningKey.generate("adapter-health")
KEYS = KeyDirectory.of([POLICE_KEY, HEALTH_KEY])


def _sealed(notice: dict[str, Any], key: SigningKey = POLICE_KEY) -> bytes:
    return seal(CATALOG, encode_notice(CATALOG, notice), key, AT)


def _linkage(notice: dict[str, Any]) -> bytes:
    return str(notice["subject"]["linkage_key"]).encode()


def _key(value: bytes) -> bytes | None:
    """The key every publisher gives the record: the linkage key inside it (None when the
    record does not even decode)."""
    try:
        envelope = CATALOG.decode(value, MessageType.ENVELOPE)
        return _linkage(CATALOG.decode(envelope["payload"], MessageType.NOTICE))
    except Exception:
        return None


def _reason(value: bytes, agency: AgencyEntry = POLICE) -> str:
    with pytest.raises(NoticeRejected) as caught:
        accept_notice(catalog=CATALOG, keys=KEYS, agency=agency, key=_key(value), value=value)
    return caught.value.reason


def test_good_notice_is_accepted_as_json_values() -> None:
    notice = notices().notice("SAFEGUARDING_CONTACT")
    accepted = accept_notice(
        catalog=CATALOG, keys=KEYS, agency=POLICE, key=_linkage(notice), value=_sealed(notice)
    )
    assert accepted.notice_id == notice["notice_id"]
    assert accepted.notice["created_at"].endswith("+00:00")  # never a bare Z
    assert accepted.signer == "adapter-police"
    assert len(accepted.envelope_sha256) == 32


def test_missing_classification_is_rejected() -> None:
    notice = notices().notice("SAFEGUARDING_CONTACT", classification=None)
    assert _reason(_sealed(notice)) == "MISSING_CLASSIFICATION"


def test_bad_signature_is_rejected() -> None:
    data = bytearray(_sealed(notices().notice("SAFEGUARDING_CONTACT")))
    data[40] ^= 0xFF
    assert _reason(bytes(data)) in {"BAD_SIGNATURE", "MALFORMED_PAYLOAD"}


def test_unknown_signer_is_rejected() -> None:
    stranger = SigningKey.generate("adapter-police")
    assert _reason(_sealed(notices().notice("SAFEGUARDING_CONTACT"), stranger)) == (
        "UNKNOWN_SIGNING_KEY"
    )


def test_another_agencys_key_cannot_publish_on_police_topic() -> None:
    notice = notices().notice("HEALTH_SAFEGUARDING_ALERT")
    assert _reason(_sealed(notice, HEALTH_KEY), POLICE) == "WRONG_SOURCE_TOPIC"


def test_notice_claiming_another_agency_is_rejected() -> None:
    notice = notices().notice("HEALTH_SAFEGUARDING_ALERT")  # source.agency HEALTH
    assert _reason(_sealed(notice, POLICE_KEY), POLICE) == "WRONG_SOURCE_TOPIC"


def test_unknown_payload_schema_is_rejected() -> None:
    payload = MAGIC + b"\x01" * 8 + b"body"
    assert _reason(seal(CATALOG, payload, POLICE_KEY, AT)) == "UNKNOWN_SCHEMA_FINGERPRINT"


def test_payload_of_the_wrong_record_type_is_rejected() -> None:
    payload = CATALOG.encode(
        MessageType.ENVELOPE,
        {
            "payload": b"",
            "key_id": "k",
            "signed_at": AT,
            "signature": b"",
            "field_provenance": None,
        },
    )
    assert _reason(seal(CATALOG, payload, POLICE_KEY, AT)) == "MALFORMED_PAYLOAD"


def test_garbage_is_undecodable() -> None:
    assert _reason(b"not avro at all") == "UNDECODABLE_ENVELOPE"


def test_a_notice_naming_another_organisation_is_rejected() -> None:
    # Holding the police key, one may not publish under the health trust's organisation code.
    notice = notices().notice("SAFEGUARDING_CONTACT")
    notice["source"]["organisation_code"] = HEALTH.organisation
    assert _reason(_sealed(notice)) == "WRONG_ORGANISATION"


def test_a_notice_id_not_derived_from_its_source_is_rejected() -> None:
    # Another agency's notice id (visible to every recipient) reused under the police key.
    victim = notices(seed=3).notice("HEALTH_SAFEGUARDING_ALERT")
    notice = notices().notice("SAFEGUARDING_CONTACT")
    notice["notice_id"] = victim["notice_id"]
    assert _reason(_sealed(notice)) == "NOTICE_ID_NOT_BOUND"


def test_a_changed_source_reference_must_change_the_id() -> None:
    notice = notices().notice("SAFEGUARDING_CONTACT")
    notice["source"]["source_reference"] += "/r2"
    assert _reason(_sealed(notice)) == "NOTICE_ID_NOT_BOUND"


def test_an_unbound_id_is_not_recorded_with_the_rejection() -> None:
    # The rejection's audit record must not collide with the genuine notice that owns the id.
    notice = notices().notice("SAFEGUARDING_CONTACT")
    notice["notice_id"] = notices(seed=3).notice("HEALTH_SAFEGUARDING_ALERT")["notice_id"]
    with pytest.raises(NoticeRejected) as caught:
        accept_notice(
            catalog=CATALOG, keys=KEYS, agency=POLICE, key=_linkage(notice), value=_sealed(notice)
        )
    assert caught.value.notice_id is None


def test_a_record_not_keyed_by_its_linkage_key_is_rejected() -> None:
    # Keyed otherwise, a copy could land on another partition, whose owner has not seen it.
    notice = notices().notice("SAFEGUARDING_CONTACT")
    for key in (None, b"", b"another-child"):
        with pytest.raises(NoticeRejected) as caught:
            accept_notice(catalog=CATALOG, keys=KEYS, agency=POLICE, key=key, value=_sealed(notice))
        assert caught.value.reason == "RECORD_KEY_MISMATCH"
        assert caught.value.notice_id == notice["notice_id"]


def test_a_copy_signed_again_keeps_its_payload_digest() -> None:
    notice = notices().notice("SAFEGUARDING_CONTACT")

    def accepted(at: dt.datetime) -> AcceptedNotice:
        value = seal(CATALOG, encode_notice(CATALOG, notice), POLICE_KEY, at)
        return accept_notice(
            catalog=CATALOG, keys=KEYS, agency=POLICE, key=_linkage(notice), value=value
        )

    first, again = accepted(AT), accepted(AT + dt.timedelta(minutes=5))
    assert first.payload_sha256 == again.payload_sha256
    assert first.envelope_sha256 != again.envelope_sha256
