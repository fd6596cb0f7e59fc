"""Local OAuth2 / OIDC provider for development and tests.

Services: the client-credentials grant with `private_key_jwt` client authentication
(RFC 7523), a JWKS and a discovery document. Grants are pluggable (`grants.py`).
People: the authorization-code grant with PKCE (S256) and an ID token (OIDC Core 3.1),
added as a grant and a router: `users.py` (synthetic user directory, generated dev
passwords), `oidc.py` (the pure rules), `authcode.py` (codes, tokens), `login.py` (the
sign-in form). Resource servers validate tokens only against the JWKS
(`services/hubkit/auth.py`, `services/audit/auth.py`), and the console is a standard OIDC
client, so a real IdP can replace this service.
"""
