"""A principal's broker credential from the hub's file or from the Strimzi User Operator's
Secret mounted as-is (services/hubkit/broker_credentials.py)."""

import json
from pathlib import Path

import pytest

from services.hubkit.broker_credentials import (
    OPERATOR_MECHANISM,
    BrokerCredential,
    operator_credential,
    parse_credential_file,
    read_credential,
)
from services.hubkit.bus import sasl_options
from services.hubkit.errors import CredentialInvalid, CredentialsMissing


def _hub_file(directory: Path, principal: str, **fields: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{principal}.json").write_text(json.dumps(fields))


def _operator_secret(directory: Path, principal: str, password: str) -> None:
    # What a Secret volume of the KafkaUser's Secret holds: one file per key.
    (directory / principal).mkdir(parents=True)
    (directory / principal / "password").write_text(password)
    (directory / principal / "sasl.jaas.config").write_text(
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{principal}" password="not-what-is-read";'
    )


def test_the_operators_secret_gives_the_principal_and_scram_sha_512(tmp_path: Path) -> None:
    _operator_secret(tmp_path, "audit", "s3cr3t-from-strimzi")
    assert read_credential(tmp_path, "audit") == BrokerCredential(
        "audit", "s3cr3t-from-strimzi", "SCRAM-SHA-512"
    )
    options = sasl_options(tmp_path, "audit")
    assert options["sasl_plain_username"] == "audit"
    assert options["sasl_plain_password"] == "s3cr3t-from-strimzi"
    assert options["sasl_mechanism"] == OPERATOR_MECHANISM


def test_the_hubs_file_wins_when_both_are_there(tmp_path: Path) -> None:
    _hub_file(tmp_path, "gateway", username="gateway", password="local", mechanism="SCRAM-SHA-256")
    _operator_secret(tmp_path, "gateway", "operator")
    assert read_credential(tmp_path, "gateway") == BrokerCredential(
        "gateway", "local", "SCRAM-SHA-256"
    )


def test_neither_place_names_both_paths(tmp_path: Path) -> None:
    with pytest.raises(CredentialsMissing) as caught:
        read_credential(tmp_path, "adapter-police")
    message = str(caught.value)
    assert str(tmp_path / "adapter-police.json") in message
    assert str(tmp_path / "adapter-police" / "password") in message
    assert caught.value.principal == "adapter-police"


def test_a_trailing_newline_is_not_part_of_the_password() -> None:
    assert operator_credential("pw\n", principal="p", where="x").password == "pw"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"password": "pw"}', "no username"),
        ('{"username": "u", "password": ""}', "no password"),
        ('{"username": "u", "password": "pw", "mechanism": "PLAIN"}', "mechanism"),
    ],
)
def test_an_unusable_hub_file_says_why(text: str, reason: str) -> None:
    with pytest.raises(CredentialInvalid, match=reason) as caught:
        parse_credential_file(text, principal="u", where="/creds/u.json")
    assert "pw" not in str(caught.value)


def test_an_empty_operator_password_is_refused(tmp_path: Path) -> None:
    _operator_secret(tmp_path, "console", "")
    with pytest.raises(CredentialInvalid, match="empty"):
        read_credential(tmp_path, "console")


def test_the_password_stays_out_of_the_repr() -> None:
    assert "hunter2" not in repr(BrokerCredential("u", "hunter2", "SCRAM-SHA-512"))
