"""TLS in the stack's pure configuration and the shared client settings (issue 13, defect 6):
the SASL_SSL listener, OPA's TLS and token flags, the local CA, and what clients are given."""

from __future__ import annotations

import datetime as dt
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from services.hubkit.bus import consumer_options, producer_options
from services.hubkit.errors import TlsMaterialMissing
from services.hubkit.settings import HubSettings
from services.hubkit.tls import (
    http_verify,
    kafka_transport_options,
    opa_auth_headers,
    opa_ssl_context,
    server_tls_options,
)
from services.stack import config
from services.stack.artifacts import ensure_opa
from services.stack.certificates import issue_local_certificates, needs_reissue
from services.stack.config import Endpoint, KafkaServerConfig
from services.stack.errors import StackConfigError

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
AUTHZ_DIR = Path(config.__file__).with_name("opa")


def _properties(text: str) -> dict[str, str]:
    entries = (line.partition("=") for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, _, value in entries}


def _server(**tls: object) -> dict[str, str]:
    return _properties(
        config.render_server_properties(
            KafkaServerConfig(
                client=Endpoint("127.0.0.1", 19092),
                controller_port=19093,
                log_dir=Path("/state/kafka/data"),
                broker_password="b" * 24,
                controller_password="c" * 24,
                **tls,  # type: ignore[arg-type]
            )
        )
    )


def test_the_sasl_ssl_listener_is_scram_inside_tls_with_a_pem_keystore() -> None:
    props = _server(tls_client=Endpoint("127.0.0.1", 19094), tls_keystore=Path("/state/tls/ks.pem"))
    assert props["listeners"].split(",") == [
        "CLIENT://127.0.0.1:19092",
        "CONTROLLER://127.0.0.1:19093",
        "CLIENT_TLS://127.0.0.1:19094",
    ]
    assert props["advertised.listeners"].endswith(",CLIENT_TLS://127.0.0.1:19094")
    protocols = dict(pair.split(":") for pair in props["listener.security.protocol.map"].split(","))
    assert protocols["CLIENT_TLS"] == "SASL_SSL"
    assert props["listener.name.client_tls.sasl.enabled.mechanisms"] == "SCRAM-SHA-256"
    assert props["listener.name.client_tls.ssl.keystore.type"] == "PEM"
    assert props["listener.name.client_tls.ssl.keystore.location"] == "/state/tls/ks.pem"
    assert props["listener.name.client_tls.ssl.enabled.protocols"] == "TLSv1.3,TLSv1.2"
    # Still deny by default, still SCRAM: TLS adds encryption, it takes nothing away.
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert "ssl.client.auth" not in props


def test_without_a_tls_endpoint_the_broker_is_rendered_as_before() -> None:
    assert "CLIENT_TLS" not in _server()["listeners"]
    with pytest.raises(StackConfigError, match="keystore"):
        _server(tls_client=Endpoint("127.0.0.1", 19094))


def test_opa_with_tls_serves_https_only_and_authenticates_by_token() -> None:
    tls = config.OpaTls(Path("/t/server.pem"), Path("/t/server-key.pem"), Path("/a/authz.rego"))
    argv = config.opa_argv(
        opa=Path("/o"), addr=Endpoint("127.0.0.1", 18181), config_file=Path("/c.json"), tls=tls
    )
    assert argv[argv.index("--tls-cert-file") + 1] == "/t/server.pem"
    assert argv[argv.index("--tls-private-key-file") + 1] == "/t/server-key.pem"
    assert "--authentication=token" in argv
    assert "--authorization=basic" in argv
    assert argv[-1] == "/a/authz.rego"
    assert config.parse_loopback_url("https://127.0.0.1:18181", setting="x").port == 18181


def test_the_local_ca_signs_a_server_certificate_for_loopback_only() -> None:
    issued = issue_local_certificates(NOW)
    ca, leaf_in_chain = (
        x509.load_pem_x509_certificate(issued.ca_certificate.encode()),
        x509.load_pem_x509_certificates(issued.server_chain.encode()),
    )
    server = leaf_in_chain[0]
    assert leaf_in_chain[1] == ca
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert "BEGIN PRIVATE KEY" in issued.server_key  # unencrypted PKCS#8, what Kafka reads
    assert not needs_reissue(issued.server_chain, NOW)
    assert needs_reissue(issued.server_chain, NOW + dt.timedelta(days=340))
    assert needs_reissue(issued.server_chain, NOW, ips=("127.0.0.1", "10.0.0.1"))
    assert needs_reissue("not a certificate", NOW)
    keystore = config.render_pem_keystore(
        private_key_pem=issued.server_key, certificate_chain_pem=issued.server_chain
    )
    assert keystore.startswith("-----BEGIN PRIVATE KEY-----")
    assert keystore.count("BEGIN CERTIFICATE") == 2


def test_one_setting_switches_every_kafka_client_to_sasl_ssl(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "gateway.json").write_text(
        '{"username": "gateway", "password": "pw", "mechanism": "SCRAM-SHA-256"}'
    )
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.pem").write_text(issue_local_certificates(NOW).ca_certificate)
    # Explicit addresses: the environment may point this run's stack at other ports.
    plain = HubSettings(
        data_dir=tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_bootstrap="127.0.0.1:19092",
        kafka_tls_bootstrap="127.0.0.1:19094",
    )
    assert kafka_transport_options(plain) == {
        "bootstrap_servers": "127.0.0.1:19092",
        "security_protocol": "SASL_PLAINTEXT",
    }
    tls = HubSettings(
        data_dir=tmp_path,
        kafka_security_protocol="SASL_SSL",
        kafka_bootstrap="127.0.0.1:19092",
        kafka_tls_bootstrap="127.0.0.1:19094",
    )
    for options in (
        producer_options(tls, "gateway"),
        consumer_options(tls, "gateway", group_id="g"),
    ):
        assert options["security_protocol"] == "SASL_SSL"
        assert options["bootstrap_servers"] == "127.0.0.1:19094"
        context = options["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname
        assert options["sasl_plain_username"] == "gateway"
    missing = HubSettings(
        data_dir=tmp_path, kafka_security_protocol="SASL_SSL", tls_ca_file=tmp_path / "nope.pem"
    )
    with pytest.raises(TlsMaterialMissing, match="SAFEHUB_TLS_CA_FILE"):
        producer_options(missing, "gateway")


def test_https_opa_and_services_need_their_files(tmp_path: Path) -> None:
    plain = HubSettings(data_dir=tmp_path)
    assert opa_ssl_context(plain) is None
    assert opa_auth_headers(plain) == {}
    assert server_tls_options(plain) == {}
    assert http_verify(plain) is True  # no local CA yet: httpx's default
    https = HubSettings(data_dir=tmp_path, opa_url="https://127.0.0.1:18181")
    with pytest.raises(TlsMaterialMissing, match="OPA's bearer token"):
        opa_auth_headers(https)
    (tmp_path / "opa").mkdir()
    (tmp_path / "opa" / "token").write_text("t" * 32 + "\n")
    assert opa_auth_headers(https) == {"Authorization": "Bearer " + "t" * 32}
    (tmp_path / "server.pem").write_text(issue_local_certificates(NOW).server_chain)
    half = HubSettings(data_dir=tmp_path, tls_cert_file=tmp_path / "server.pem")
    with pytest.raises(TlsMaterialMissing, match="SAFEHUB_TLS_KEY_FILE"):
        server_tls_options(half)


def test_the_opa_authz_policy_passes_its_own_tests_with_full_coverage() -> None:
    opa = str(ensure_opa(HubSettings(), lambda _: None))
    subprocess.run([opa, "check", "--strict", str(AUTHZ_DIR)], check=True)
    done = subprocess.run(
        [opa, "test", "--coverage", "--threshold", "100", str(AUTHZ_DIR)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
