"""The child index: owns the hub's linkage secret and turns a child's identifiers into the
child's pseudonymous key. Agency adapters ask it over authenticated HTTP (see README.md);
nothing else holds the secret.

    domain      canonical identifiers and the keyed HMAC (pure)
    secret      the linkage secret on disk (provisioned once, 0600)
    settings    ChildIndexSettings (SAFEHUB_CHILDINDEX_*)
    api         the HTTP edge: POST /v1/children/resolve, /v1/children/resolve-batch
    bootstrap   the one wiring point: settings in, app out
"""
