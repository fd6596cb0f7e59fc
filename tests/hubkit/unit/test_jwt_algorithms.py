"""The hub's one list of accepted JWT algorithms: asymmetric only, and it includes the
algorithm the hub's own keys sign with."""

from __future__ import annotations

from services.hubkit.jwt_algorithms import ACCEPTED_ALGORITHMS
from services.hubkit.jwt_keys import SIGNING_ALGORITHM


def test_no_shared_secret_and_no_unsigned_token_is_ever_accepted() -> None:
    # HMAC would let anyone holding the public JWKS mint tokens; "none" is no signature.
    assert not [alg for alg in ACCEPTED_ALGORITHMS if alg.upper().startswith("HS")]
    assert "none" not in {alg.lower() for alg in ACCEPTED_ALGORITHMS}


def test_the_hubs_own_tokens_are_accepted() -> None:
    assert SIGNING_ALGORITHM in ACCEPTED_ALGORITHMS
