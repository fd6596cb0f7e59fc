import io
from typing import Any

import fastavro
import pytest

from services.hubkit.codec import MAGIC, MessageType
from services.hubkit.errors import (
    MalformedPayload,
    NotSingleObjectEncoded,
    UnexpectedSchema,
    UnknownSchemaFingerprint,
)
from services.hubkit.notice import DETAIL_RECORD, encode_notice, to_json_value
from tests.factories import SCHEMAS, catalog, notices

CATALOG = catalog()


@pytest.mark.parametrize("notice_type", sorted(DETAIL_RECORD))
def test_every_notice_type_round_trips(notice_type: str) -> None:
    notice = notices().notice(notice_type)
    data = encode_notice(CATALOG, notice)
    assert data[:2] == MAGIC
    assert data[2:10] == CATALOG.fingerprint(MessageType.NOTICE)
    assert to_json_value(CATALOG.decode(data, MessageType.NOTICE)) == to_json_value(notice)


def test_fingerprint_is_crc64_avro_little_endian() -> None:
    # Avro spec test vector: CRC-64-AVRO of the canonical form "null" is 0x63dd24e7cc258f8a.
    from services.hubkit.codec import fingerprint_of

    assert fingerprint_of("null") == (0x63DD24E7CC258F8A).to_bytes(8, "little")


def test_unknown_fingerprint_is_refused_with_typed_error() -> None:
    data = encode_notice(CATALOG, notices().notice("SAFEGUARDING_CONTACT"))
    forged = MAGIC + b"\x00" * 8 + data[10:]
    with pytest.raises(UnknownSchemaFingerprint) as caught:
        CATALOG.decode(forged, MessageType.NOTICE)
    assert caught.value.fingerprint == b"\x00" * 8


def test_bytes_without_marker_are_refused() -> None:
    with pytest.raises(NotSingleObjectEncoded):
        CATALOG.decode(b'{"json": true}', MessageType.NOTICE)


def test_a_known_schema_of_the_wrong_type_is_refused() -> None:
    data = encode_notice(CATALOG, notices().notice("SAFEGUARDING_CONTACT"))
    with pytest.raises(UnexpectedSchema):
        CATALOG.decode(data, MessageType.AUDIT_RECORD)


def test_truncated_body_is_malformed() -> None:
    data = encode_notice(CATALOG, notices().notice("MISSING_EPISODE"))
    with pytest.raises(MalformedPayload):
        CATALOG.decode(data[:40], MessageType.NOTICE)


def test_encoding_an_invalid_record_fails_loudly() -> None:
    notice = notices().notice("SAFEGUARDING_CONTACT")
    notice["notice_type"] = "NOT_A_TYPE"
    with pytest.raises(MalformedPayload):
        CATALOG.encode(MessageType.NOTICE, {**notice, "detail": ("x", {})})


def _audit_records() -> list[dict[str, Any]]:
    from tests.audit.records import audit_records

    generator = notices(seed=13)
    return [
        record
        for notice_type in sorted(DETAIL_RECORD)
        for record in audit_records(to_json_value(generator.notice(notice_type)))
    ]


def _plain_fastavro(message_type: MessageType, record: dict[str, Any]) -> bytes:
    """What encode wrote before it named union branches: fastavro left to find them."""
    parsed = fastavro.schema.load_schema(str(SCHEMAS / f"{message_type.value}.avsc"))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record, strict=True)
    return MAGIC + CATALOG.fingerprint(message_type) + buffer.getvalue()


def test_naming_union_branches_changes_no_byte() -> None:
    records = _audit_records()
    assert {r["lawful_basis"] is not None for r in records} == {True}
    for record in records:
        assert CATALOG.encode(MessageType.AUDIT_RECORD, record) == _plain_fastavro(
            MessageType.AUDIT_RECORD, record
        )
    for notice_type in sorted(DETAIL_RECORD):
        notice = notices(seed=17).notice(notice_type, classification="OFFICIAL_SENSITIVE")
        tagged = {**notice, "detail": (DETAIL_RECORD[notice_type], notice["detail"])}
        assert encode_notice(CATALOG, notice) == _plain_fastavro(MessageType.NOTICE, tagged)


@pytest.mark.parametrize(
    ("field", "spoil"),
    [
        ("outcome", lambda value: "ALLOW"),
        ("consent_status", lambda value: 3),
        ("lawful_basis", lambda value: {**value, "unexpected": "x"}),
        ("lawful_basis", lambda value: {k: v for k, v in value.items() if k != "article6"}),
        ("lawful_basis", lambda value: {**value, "article6": None}),
        ("recipient", lambda value: {**value, "agency": "NOT_AN_AGENCY"}),
        ("recipient", lambda value: "mash-manager"),
    ],
)
def test_a_bad_value_in_a_union_is_still_refused(field: str, spoil: Any) -> None:
    record = _audit_records()[0]
    with pytest.raises(MalformedPayload):
        CATALOG.encode(MessageType.AUDIT_RECORD, {**record, field: spoil(record[field])})
