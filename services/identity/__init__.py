"""Local OAuth2 / OIDC provider for development and tests.

Services: the client-credentials grant with `private_key_jwt` client authentication
(RFC 7523), a JWKS and a discovery document. Grants are pluggable (`grants.py`).
People: the authorization-code grant with PKCE (S256) and an ID token (OIDC Core 3.1),
added as a grant and a router: `users.py` (synthetic user directory, scrypt hashes of
generated dev passwords, checked on worker threads), `oidc.py` (the pure rules), `authcode.py`
(codes, tokens), `login.py` (the sign-in form). A person's access token is for one API
(RFC 8707 resource: the console, the IG audit API or the CP-IS lookup), the one its client
is registered for, and only for people whose roles that API admits (`settings.PersonApi`).
Used client assertion ids are kept on disk (`used_assertions.py`), so an assertion is
accepted once across restarts and replicas. Resource servers validate tokens only against the JWKS
(`services/hubkit/auth.py`, `services/audit/auth.py`), and the console is a standard OIDC
client, so a real IdP can replace this service.
"""
