"""Local OAuth2 / OIDC provider for development and tests.

Today: the client-credentials grant with `private_key_jwt` client authentication (RFC 7523),
a JWKS and a discovery document. Grants are pluggable (`grants.py`), so the authorization-code
+ PKCE flow for people is an added grant and router, not a rewrite. Adapters validate tokens
only against the JWKS (`services/hubkit/auth.py`), so a real IdP can replace this service.
"""
