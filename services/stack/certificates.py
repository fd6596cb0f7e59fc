"""The local stack's own certificate authority and the one server certificate it issues.

`safehub stack up` makes a private CA and a certificate for 127.0.0.1 / localhost signed by it;
Kafka's SASL_SSL listener, an https OPA and any service switched to HTTPS present that
certificate, and clients trust only the CA (SAFEHUB_TLS_CA_FILE, default <data_dir>/tls/ca.pem).
The server key never leaves the state directory (mode 0600) and never enters the repository.
The CA's key is discarded once it has signed: a reissue makes a new CA, so nothing else can
ever be signed by the CA clients trust, even with a copy of the state directory.

Issuing takes the clock and a key generator as arguments, so it is deterministic to test; the
runner supplies the real ones and writes the files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.hubkit.private_files import pkcs8_pem

__all__ = [
    "LOCAL_SERVER_HOSTS",
    "LOCAL_SERVER_IPS",
    "IssuedCertificates",
    "issue_local_certificates",
    "needs_reissue",
]

LOCAL_SERVER_HOSTS = ("localhost",)
LOCAL_SERVER_IPS = ("127.0.0.1",)
_CA_LIFETIME = dt.timedelta(days=5 * 365)
_SERVER_LIFETIME = dt.timedelta(days=365)
# Reissue a month ahead so a long-running stack never meets an expired certificate.
_REISSUE_MARGIN = dt.timedelta(days=30)
# Clocks of the processes on one host agree, but a few minutes of slack costs nothing.
_BACKDATE = dt.timedelta(minutes=5)

KeyFactory = Callable[[], ec.EllipticCurvePrivateKey]


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True, slots=True)
class IssuedCertificates:
    """PEM text of the CA certificate, and of the server chain and key."""

    ca_certificate: str
    server_chain: str
    """The server certificate, then the CA certificate."""
    server_key: str
    """Unencrypted PKCS#8: what Kafka's PEM keystore, OPA and uvicorn all read."""


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return pkcs8_pem(key).decode("ascii")


def _pem_certificate(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def issue_local_certificates(
    now: dt.datetime,
    *,
    hosts: tuple[str, ...] = LOCAL_SERVER_HOSTS,
    ips: tuple[str, ...] = LOCAL_SERVER_IPS,
    new_key: KeyFactory = _p256,
) -> IssuedCertificates:
    """A fresh CA (path length 0: it can sign servers, not other CAs) and a server
    certificate for `hosts` and `ips`, valid for server authentication only."""
    ca_key, server_key = new_key(), new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "safehub local stack CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    names: list[x509.GeneralName] = [x509.DNSName(host) for host in hosts]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _SERVER_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return IssuedCertificates(
        ca_certificate=_pem_certificate(ca),
        server_chain=_pem_certificate(server) + _pem_certificate(ca),
        server_key=_pem_key(server_key),
    )


def needs_reissue(
    server_chain_pem: str,
    now: dt.datetime,
    *,
    hosts: tuple[str, ...] = LOCAL_SERVER_HOSTS,
    ips: tuple[str, ...] = LOCAL_SERVER_IPS,
) -> bool:
    """True when the server certificate (or its CA) expires within a month, or when it does
    not cover every host and address the stack serves on."""
    try:
        chain = x509.load_pem_x509_certificates(server_chain_pem.encode("ascii"))
    except ValueError:
        return True
    if not chain or any(c.not_valid_after_utc - _REISSUE_MARGIN <= now for c in chain):
        return True
    try:
        san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return True
    covered_ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    covered_hosts = set(san.get_values_for_type(x509.DNSName))
    return not (set(hosts) <= covered_hosts and set(ips) <= covered_ips)
