"""The MASH triage console: what MASH staff look at all day.

A FastAPI app with server-rendered pages (Jinja2) and one small script for live updates:
sign in with OpenID Connect (authorization code + PKCE) against the hub's identity
provider; a live queue of the signed-in person's feed (Server-Sent Events from a
read_committed consumer of that feed); a child's chronology across agencies (and across
the keys the child index merged); triage decisions published back through the hub as
MASH_DECISION notices; the child index's review queue ("same child?"), decided and audited.

    domain/      the functional core (no I/O): see domain/__init__.py
    errors       the error tree
    settings     ConsoleSettings (SAFEHUB_CONSOLE_*)
    runtime      the one wiring point: followers, producers, OIDC client
    feeds        Kafka: one follower per served feed, fanning changes out to open pages
    linkage_feed Kafka: the child index's merges and splits, into the alias map (as console)
    outbound     Kafka: decisions (as adapter-mash) and access events (as console)
    child_index  HTTP: the child index's review queue, with the console's own client
    sessions     server-side sessions, expiry, rotation at sign-in
    signin       the OIDC client (authlib)
    routes/      the pages, one router per page group: see routes/__init__.py
    security_headers   the headers every response carries (CSP, no caching, no framing)
    app          the HTTP edge wired in one place: routers, sessions, security headers
"""

__all__: list[str] = []
