"""Per-field provenance: the agency's own signature over each field, surviving redaction.

A recipient gets a redacted view re-signed by the hub. To let it check the fields it holds
against what the *agency* signed, without learning the fields withheld from it, the agency
signs salted digests of every field: the selective-disclosure construction of SD-JWT
(RFC 9901). The hub passes each recipient the agency-signed JWT and only the disclosures of
the fields in its view.

The unit of disclosure is the unit the sharing rules disclose (`field_paths.present_paths`):
a top-level field, or one field of a container record ("subject.date_of_birth"). Each unit is
one disclosure `[salt, path, value]` whose claim name is the dot path, all in the one `_sd`
array of the issuer-signed JWT: a flat array says nothing about which containers hold what,
and decoys pad it to a multiple of DIGEST_BUCKET so its length says little about how many
fields the notice holds.

    disclosure = BASE64URL(UTF-8(JSON([salt, path, value])))          RFC 9901 §4.2.1
    digest     = BASE64URL(SHA-256(ASCII(disclosure)))                 RFC 9901 §4.2.3
    JWT claims = {iss, notice_id, iat, _sd_alg: "sha-256", _sd: [sorted digests + decoys]}
    SD-JWT     = JWT "~" disclosure "~" ... "~"                        RFC 9901 §4

The JWT is a JWS (RFC 7515) signed with the agency's envelope key (alg "Ed25519", RFC 9864;
kid = the envelope key id), so the signer of the fields is the signer of the notice.

What this proves to a recipient: every field it holds that carries a disclosure is, byte for
byte as JSON, what the holder of that agency key signed for that notice id. A field moved from
another notice fails (its digest is in the other notice's list, not this one's); a field moved
to another path fails (the path is inside the digest); a withheld field cannot be guessed from
its digest (each salt is 128 random bits, RFC 9901 §4.2.1 and §10.3).

Pure: plain functions over plain data; the caller supplies keys, time and randomness.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from services.hubkit.envelope import KeyDirectory, SigningKey
from services.hubkit.errors import HubError, ProvenanceInvalid
from services.hubkit.field_paths import CONTAINER_FIELDS, holds_information

__all__ = [
    "DIGEST_BUCKET",
    "SD_JWT_TYPE",
    "IssuedProvenance",
    "ViewProvenance",
    "disclosure_digest",
    "disclosure_units",
    "issue",
    "open_issued",
    "presentation_for",
    "require_matches_notice",
    "verify_view",
]

SD_JWT_TYPE = "safehub-notice+sd-jwt"
"""The JWT's `typ` (RFC 9901 §9.11: an application-specific type, so this token is never
taken for another kind of SD-JWT)."""

DIGEST_BUCKET = 16
"""The `_sd` array is padded with decoy digests to a multiple of this (RFC 9901 §4.2.5)."""

_ALGORITHM = "Ed25519"
_SALT_BYTES = 16  # 128 bits, the minimum RFC 9901 §4.2.1 recommends
_HASH_NAME = "sha-256"  # RFC 9901 §4.1.1, the IANA hash name


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if "=" in text:
        raise ValueError("padding is not used in base64url here")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def disclosure_units(notice_json: Mapping[str, Any]) -> dict[str, Any]:
    """Every unit of disclosure a notice (or a redacted view of one) holds, path -> value.

    The granularity of `field_paths.present_paths`: a container record's fields one by one,
    every other field whole; a field holding nothing (null, [], {}) is no unit."""
    units: dict[str, Any] = {}
    for key, value in notice_json.items():
        if key in CONTAINER_FIELDS and isinstance(value, Mapping):
            for child, child_value in value.items():
                if holds_information(child_value):
                    units[f"{key}.{child}"] = child_value
        elif holds_information(value):
            units[key] = value
    return units


def _encode_disclosure(salt: bytes, path: str, value: Any) -> str:
    # Compact, UTF-8 JSON: RFC 9901 fixes no serialisation because the digest is over the
    # encoded string as sent, never over a re-serialisation.
    text = json.dumps([_b64url(salt), path, value], separators=(",", ":"), ensure_ascii=False)
    return _b64url(text.encode("utf-8"))


def disclosure_digest(disclosure: str) -> str:
    """RFC 9901 §4.2.3: the digest of the disclosure as its base64url ASCII text."""
    return _b64url(hashlib.sha256(disclosure.encode("ascii")).digest())


def issue(
    notice_json: Mapping[str, Any],
    key: SigningKey,
    signed_at: dt.datetime,
    *,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> str:
    """The agency's SD-JWT over every unit of `notice_json` (the notice as JSON values,
    exactly as the gateway reads it back), with all disclosures: what the adapter publishes
    beside the signed notice."""
    disclosures = [
        _encode_disclosure(random_bytes(_SALT_BYTES), path, value)
        for path, value in disclosure_units(notice_json).items()
    ]
    digests = [disclosure_digest(d) for d in disclosures]
    # RFC 9901 §4.2.5: decoys are digests of random data, indistinguishable from real ones.
    while len(digests) % DIGEST_BUCKET or not digests:
        digests.append(_b64url(hashlib.sha256(random_bytes(_SALT_BYTES)).digest()))
    claims = {
        "iss": key.owner,
        "notice_id": str(notice_json["notice_id"]),
        "iat": int(signed_at.timestamp()),
        "_sd_alg": _HASH_NAME,
        # RFC 9901 §4.2.4.1: the order must not reveal the order of the claims.
        "_sd": sorted(digests),
    }
    header = {"alg": _ALGORITHM, "typ": SD_JWT_TYPE, "kid": key.key_id}
    payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
    token = jws.serialize_compact(
        header, payload, OKPKey.import_key(key.private_key), algorithms=[_ALGORITHM]
    )
    return "~".join([token, *disclosures, ""])


@dataclass(frozen=True, slots=True)
class _Disclosure:
    encoded: str
    value: Any


@dataclass(frozen=True, slots=True)
class IssuedProvenance:
    """An SD-JWT whose signature and disclosures verified: the issuer-signed JWT, who signed
    it, and each disclosed unit by path."""

    issuer_jwt: str
    key_id: str
    signer: str
    notice_id: str
    signed_at: dt.datetime
    disclosures: Mapping[str, _Disclosure]


def _split(sd_jwt: str) -> tuple[str, list[str]]:
    # RFC 9901 §4: JWT~D1~...~Dn~ (no key binding JWT: a recipient holds no key to bind).
    if not isinstance(sd_jwt, str) or not sd_jwt.endswith("~"):
        raise ProvenanceInvalid("malformed", "an SD-JWT without key binding ends with '~'")
    parts = sd_jwt.split("~")
    return parts[0], parts[1:-1]


def open_issued(sd_jwt: str, keys: KeyDirectory) -> IssuedProvenance:
    """Verify an SD-JWT (issued or presented) and open its disclosures.

    Checks, in RFC 9901 §7.1's order: the JWT's signature by a trusted key (the `kid`) and
    its type and digest algorithm; then that each disclosure is well formed, names a path at
    most once, and has its digest in the signed `_sd` list (§7.1 step 3)."""
    issuer_jwt, encoded = _split(sd_jwt)
    try:
        # Parsed once: the header names the key, and the same object is then verified.
        compact = jws.extract_compact(issuer_jwt.encode("ascii"))
        header = compact.headers()
    except (JoseError, ValueError, UnicodeError) as error:
        raise ProvenanceInvalid("malformed", f"the issuer JWT is not a JWS ({error})") from None
    if header.get("alg") != _ALGORITHM or header.get("typ") != SD_JWT_TYPE:
        raise ProvenanceInvalid("malformed", "the issuer JWT is not a safehub notice SD-JWT")
    key_id = header.get("kid")
    if not isinstance(key_id, str):
        raise ProvenanceInvalid("malformed", "the issuer JWT names no key")
    try:
        trusted = keys.get(key_id)
    except HubError:
        raise ProvenanceInvalid("unknown_signer", f"key {key_id} is not trusted") from None
    try:
        valid = jws.validate_compact(
            compact, OKPKey.import_key(trusted.public_key), algorithms=[_ALGORITHM]
        )
    except (JoseError, ValueError) as error:
        raise ProvenanceInvalid(
            "bad_signature", f"the agency's signature does not verify ({type(error).__name__})"
        ) from None
    if not valid:
        raise ProvenanceInvalid("bad_signature", "the agency's signature does not verify")
    try:
        claims = json.loads(compact.payload)
    except ValueError:
        raise ProvenanceInvalid("malformed", "the issuer JWT's payload is not JSON") from None
    digests = claims.get("_sd") if isinstance(claims, dict) else None
    if (
        not isinstance(digests, list)
        or claims.get("_sd_alg") != _HASH_NAME
        or not isinstance(claims.get("notice_id"), str)
        or not isinstance(claims.get("iat"), int)
        or claims.get("iss") != trusted.owner
    ):
        raise ProvenanceInvalid("malformed", "the issuer JWT's claims are not a notice's")
    signed = frozenset(digests)
    disclosures: dict[str, _Disclosure] = {}
    for disclosure in encoded:
        path, value = _decode_disclosure(disclosure)
        if disclosure_digest(disclosure) not in signed:
            raise ProvenanceInvalid(
                "not_signed", f"the disclosure of {path} is not one the agency signed", path=path
            )
        if path in disclosures:
            raise ProvenanceInvalid("duplicate", f"{path} is disclosed twice", path=path)
        disclosures[path] = _Disclosure(disclosure, value)
    return IssuedProvenance(
        issuer_jwt=issuer_jwt,
        key_id=key_id,
        signer=trusted.owner,
        notice_id=claims["notice_id"],
        signed_at=dt.datetime.fromtimestamp(claims["iat"], dt.UTC),
        disclosures=disclosures,
    )


def _decode_disclosure(disclosure: str) -> tuple[str, Any]:
    try:
        item = json.loads(_b64url_decode(disclosure).decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeError):
        raise ProvenanceInvalid("malformed", "a disclosure is not base64url JSON") from None
    # RFC 9901 §4.2.1: an object property's disclosure is [salt, claim name, value].
    if not (
        isinstance(item, list)
        and len(item) == 3
        and isinstance(item[0], str)
        and isinstance(item[1], str)
    ):
        raise ProvenanceInvalid("malformed", "a disclosure is not [salt, name, value]")
    if len(_b64url_decode(item[0])) < _SALT_BYTES:
        raise ProvenanceInvalid("malformed", f"the salt of {item[1]} is under 128 bits")
    return item[1], item[2]


def require_matches_notice(issued: IssuedProvenance, notice_json: Mapping[str, Any]) -> None:
    """The gateway's check before it passes disclosures on: the SD-JWT is for this notice
    and discloses exactly its units with exactly its values. A mismatch means the agency's
    per-field signature does not say what its notice says; nothing can be passed on."""
    if issued.notice_id != notice_json["notice_id"]:
        raise ProvenanceInvalid("wrong_notice", "the field signatures are for another notice")
    units = disclosure_units(notice_json)
    if units.keys() != issued.disclosures.keys():
        missing = sorted(units.keys() - issued.disclosures.keys())
        extra = sorted(issued.disclosures.keys() - units.keys())
        raise ProvenanceInvalid(
            "incomplete",
            f"fields without a signature: {missing or 'none'}; "
            f"signatures without a field: {extra or 'none'}",
        )
    for path, value in units.items():
        if not _same_json(issued.disclosures[path].value, value):
            raise ProvenanceInvalid(
                "altered", f"{path} differs from the field the agency signed", path=path
            )


def _same_json(a: Any, b: Any) -> bool:
    # Not `a == b`: Python has True == 1 == 1.0, and a field altered from 1 to true must fail.
    # Except for text, most of a notice: a string equals only the same string, and its JSON
    # is the same exactly when it is (the gateway checks every field of every notice).
    if type(a) is str or type(b) is str:
        return bool(a == b)
    return _canonical(a) == _canonical(b)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def presentation_for(issued: IssuedProvenance, paths: Iterable[str]) -> str:
    """RFC 9901 §4 presentation: the issuer JWT and only the disclosures of `paths` (the
    units a recipient's view holds). A path without a disclosure is skipped: the recipient
    sees it as resting on the hub's signature alone."""
    chosen = sorted(p for p in set(paths) if p in issued.disclosures)
    return "~".join([issued.issuer_jwt, *(issued.disclosures[p].encoded for p in chosen), ""])


@dataclass(frozen=True, slots=True)
class ViewProvenance:
    """What a recipient learnt checking its view against the agency's signature."""

    signer: str
    """The owner of the agency key that signed the fields (e.g. adapter-police)."""
    key_id: str
    signed_at: dt.datetime
    verified: tuple[str, ...]
    """Fields of the view that are exactly what the agency signed."""
    raised: tuple[str, ...]
    """Fields the hub may only raise (the classification, under a handling caveat): the view
    holds a higher marking than the agency's, which `ranks` confirmed."""
    hub_only: tuple[str, ...]
    """Fields of the view with no agency disclosure: they rest on the hub's signature alone."""


def verify_view(
    presentation: str,
    view: Mapping[str, Any],
    *,
    notice_id: str,
    keys: KeyDirectory,
    raisable: Mapping[str, Callable[[Any, Any], bool]] | None = None,
) -> ViewProvenance:
    """A recipient's check: every disclosure verifies against the agency's signature, is for
    this notice, and every field of the view that has a disclosure holds exactly its value.

    `raisable` maps a path the hub may change to `raised(view_value, signed_value)`, true
    when the view's value is one the hub may put there (a classification only goes up).
    A disclosure for a field the view does not hold is refused: a presentation carries only
    what the recipient was given."""
    issued = open_issued(presentation, keys)
    if issued.notice_id != notice_id:
        raise ProvenanceInvalid("wrong_notice", "the field signatures are for another notice")
    units = disclosure_units(view)
    stray = sorted(issued.disclosures.keys() - units.keys())
    if stray:
        raise ProvenanceInvalid(
            "stray", f"disclosures for fields the view lacks: {stray}", path=stray[0]
        )
    verified: list[str] = []
    raised: list[str] = []
    hub_only: list[str] = []
    for path, value in sorted(units.items()):
        disclosure = issued.disclosures.get(path)
        if disclosure is None:
            hub_only.append(path)
        elif _same_json(disclosure.value, value):
            verified.append(path)
        elif raisable is not None and path in raisable and raisable[path](value, disclosure.value):
            raised.append(path)
        else:
            raise ProvenanceInvalid("altered", f"{path} is not what the agency signed", path=path)
    return ViewProvenance(
        signer=issued.signer,
        key_id=issued.key_id,
        signed_at=issued.signed_at,
        verified=tuple(verified),
        raised=tuple(raised),
        hub_only=tuple(hub_only),
    )
