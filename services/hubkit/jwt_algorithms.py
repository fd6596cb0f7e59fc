"""The JWS algorithms the hub accepts on any JWT it verifies: one list, owned here.

Every place that checks a signed JWT uses it: an API's access-token check
(`services.hubkit.auth`, the audit API included), the identity provider's check of client
assertions and its discovery document (`services.identity`), and the console's check of the ID
token at sign-in (`services.console.signin`, which pins it over whatever the IdP's discovery
document says).

Asymmetric algorithms only. Verification keys come from a JWKS, which is public: were an
HMAC algorithm (HS256...) accepted, anyone who read the JWKS, or who could get a public key
taken for a shared secret, could mint tokens the hub would believe. `none` (an unsigned JWT)
is never accepted either. The hub's own keys are ES256 (`services.hubkit.jwt_keys`); RS256 is
accepted because it is what most other identity providers sign with; "Ed25519" (RFC 9864's
name for EdDSA over Ed25519; joserfc warns on the deprecated polymorphic "EdDSA", so that
name is not accepted) because some issuers of audit-API tokens sign with it.
"""

from __future__ import annotations

__all__ = ["ACCEPTED_ALGORITHMS"]

ACCEPTED_ALGORITHMS: tuple[str, ...] = ("ES256", "RS256", "Ed25519")
