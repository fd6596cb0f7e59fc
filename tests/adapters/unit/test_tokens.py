"""Access-token validation against a JWKS (services/hubkit/auth.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from services.hubkit.auth import (
    AccessClaims,
    AgencyMismatch,
    InsufficientScope,
    StaticJwks,
    TokenAudienceInvalid,
    TokenClaimsInvalid,
    TokenExpired,
    TokenIssuerInvalid,
    TokenMalformed,
    TokenMissing,
    TokenSignatureInvalid,
    TokenValidator,
    authorise_agency,
    bearer_token,
)

ISSUER = "http://idp.test"
AUDIENCE = "safehub-ingest"
NOW = 1_800_000_000
KEY = ECKey.generate_key("P-256", auto_kid=True)
OTHER_KEY = ECKey.generate_key("P-256", auto_kid=True)


def _claims(**overrides: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "sub": "police-client",
        "aud": AUDIENCE,
        "iat": NOW,
        "exp": NOW + 300,
        "jti": "t1",
        "client_id": "police-client",
        "scope": "notices:publish",
        "agency": "POLICE",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _token(key: Any = KEY, alg: str = "ES256", typ: str = "at+jwt", **overrides: Any) -> str:
    header = {"alg": alg, "kid": key.kid, "typ": typ}
    return jwt.encode(header, _claims(**overrides), key, algorithms=[alg])


def _validator(*keys: Any) -> TokenValidator:
    return TokenValidator(
        jwks=StaticJwks(KeySet(list(keys or (KEY,)))),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=lambda: NOW,
    )


async def test_valid_token() -> None:
    claims = await _validator().validate(_token())
    assert claims == AccessClaims(
        issuer=ISSUER,
        subject="police-client",
        client_id="police-client",
        agency="POLICE",
        scopes=frozenset({"notices:publish"}),
        expires_at=NOW + 300,
        token_id="t1",
    )


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"exp": NOW - 60}, TokenExpired),
        ({"nbf": NOW + 600}, TokenExpired),
        ({"aud": "someone-else"}, TokenAudienceInvalid),
        ({"aud": None}, TokenClaimsInvalid),
        ({"iss": "http://evil.test"}, TokenIssuerInvalid),
        ({"agency": None}, TokenClaimsInvalid),
        ({"sub": None}, TokenClaimsInvalid),
        ({"exp": None}, TokenClaimsInvalid),
    ],
)
async def test_claims_are_checked(overrides: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        await _validator().validate(_token(**overrides))


async def test_leeway_absorbs_small_clock_skew() -> None:
    await _validator().validate(_token(exp=NOW - 10))


async def test_signature_from_an_unknown_key_fails() -> None:
    forged = jwt.encode(
        {"alg": "ES256", "kid": KEY.kid}, _claims(), OTHER_KEY, algorithms=["ES256"]
    )
    with pytest.raises(TokenSignatureInvalid):
        await _validator().validate(forged)


async def test_unknown_kid_refreshes_then_fails() -> None:
    with pytest.raises(TokenSignatureInvalid):
        await _validator().validate(_token(key=OTHER_KEY))


async def test_hmac_token_signed_with_the_public_jwk_is_refused() -> None:
    # The classic confusion attack: HS256 keyed with bytes an attacker can read.
    assert KEY.kid is not None  # auto_kid=True
    secret = OctKey.import_key(b"x" * 32, parameters={"kid": KEY.kid})
    forged = jwt.encode({"alg": "HS256", "kid": KEY.kid}, _claims(), secret, algorithms=["HS256"])
    with pytest.raises(TokenSignatureInvalid):
        await _validator().validate(forged)


async def test_rs256_is_accepted_for_real_idps() -> None:
    rsa = RSAKey.generate_key(2048, auto_kid=True)
    claims = await _validator(KEY, rsa).validate(_token(key=rsa, alg="RS256"))
    assert claims.agency == "POLICE"


@pytest.mark.parametrize("value", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
async def test_garbage_is_malformed_or_unverifiable(value: str) -> None:
    with pytest.raises((TokenMalformed, TokenSignatureInvalid)):
        await _validator().validate(value)


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer"])
def test_bearer_header_required(header: str | None) -> None:
    with pytest.raises(TokenMissing):
        bearer_token(header)


def test_bearer_header_parsed() -> None:
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"


async def test_agency_and_scope_authorisation() -> None:
    claims = await _validator().validate(_token())
    assert authorise_agency(claims, agency="POLICE") is claims
    with pytest.raises(AgencyMismatch, match=r"issued to agency POLICE.*HEALTH only"):
        authorise_agency(claims, agency="HEALTH")
    no_scope = await _validator().validate(_token(scope="profile"))
    with pytest.raises(InsufficientScope):
        authorise_agency(no_scope, agency="POLICE")


def test_time_is_real_time_by_default() -> None:
    validator = TokenValidator(jwks=StaticJwks(KeySet([KEY])), issuer=ISSUER, audience=AUDIENCE)
    assert abs(validator._clock() - time.time()) < 5


@pytest.mark.parametrize("typ", ["JWT", "id+jwt", ""])
async def test_a_token_that_is_not_typed_as_an_access_token_is_refused(typ: str) -> None:
    # RFC 9068: an ID token (typ JWT) from the same issuer is not an access token.
    with pytest.raises(TokenMalformed, match="not an access token"):
        await _validator().validate(_token(typ=typ))
