import datetime as dt
from pathlib import Path

import pytest

from services.hubkit.envelope import (
    KeyDirectory,
    SigningKey,
    load_signing_key,
    open_envelope,
    provision_keys,
    seal,
)
from services.hubkit.errors import BadSignature, HubError, UnknownSigningKey
from tests.factories import catalog

CATALOG = catalog()
AT = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def test_sealed_payload_verifies_and_names_its_signer() -> None:
    key = SigningKey.generate("adapter-police")
    data = seal(CATALOG, b"payload-bytes", key, AT)
    verified = open_envelope(CATALOG, data, KeyDirectory.of([key]))
    assert verified.payload == b"payload-bytes"
    assert verified.owner == "adapter-police"
    assert verified.signed_at == AT


@pytest.mark.parametrize("position", [12, 20, -70, -1])
def test_any_flipped_byte_is_detected(position: int) -> None:
    key = SigningKey.generate("adapter-police")
    data = bytearray(seal(CATALOG, b"payload-bytes-long-enough", key, AT))
    data[position] ^= 0x01
    with pytest.raises(HubError):
        open_envelope(CATALOG, bytes(data), KeyDirectory.of([key]))


def test_signature_by_untrusted_key_is_refused() -> None:
    trusted = SigningKey.generate("adapter-police")
    impostor = SigningKey.generate("adapter-police")
    data = seal(CATALOG, b"x", impostor, AT)
    with pytest.raises(UnknownSigningKey):
        open_envelope(CATALOG, data, KeyDirectory.of([trusted]))


def test_key_id_reuse_by_another_key_fails_signature() -> None:
    real = SigningKey.generate("adapter-police")
    forger = SigningKey("adapter-police", real.key_id, SigningKey.generate("x").private_key)
    data = seal(CATALOG, b"x", forger, AT)
    with pytest.raises(BadSignature):
        open_envelope(CATALOG, data, KeyDirectory.of([real]))


def test_provisioned_keys_load_and_verify(tmp_path: Path) -> None:
    provision_keys(tmp_path, ["adapter-health", "gateway"])
    provision_keys(tmp_path, ["adapter-health"])  # idempotent: keeps the first key
    key = load_signing_key(tmp_path, "adapter-health")
    assert (tmp_path / "private" / "adapter-health.pem").stat().st_mode & 0o777 == 0o600
    data = seal(CATALOG, b"p", key, AT)
    directory = KeyDirectory.load(tmp_path / "trusted")
    assert open_envelope(CATALOG, data, directory).owner == "adapter-health"
