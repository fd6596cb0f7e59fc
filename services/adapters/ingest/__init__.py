"""The ingest library every agency adapter shares: validate -> map -> sign -> publish.

Functional core (pure, no I/O):
    vocab        hub vocabularies, mirroring the Avro enums
    models       shared native-format building blocks and validators (NHS number, postcode)
    problems     field-level errors (RFC 6901 pointers) and RFC 9457 problem documents
    mapping      notice builder, linkage-keyed subject, content fingerprint, warnings
    child_keys   how a pure mapping gets children's keys (asked of the child index first)
    nrm          NRM referral parts every first responder's adapter shares
    csv_batch    CSV uploads read into per-row results
    idempotency  the claim rule (`decide_claim`) ...
    retractions  withdrawing a published notice: the request, `decide_retraction`, the audit
                 answer mapped (`receipts_from_audit`) ...
Imperative shell:
    idempotency  ... and the durable SQLite store
    child_index  the child index client: identifiers out, linkage keys back (503 if down)
    pipeline     claim -> publish (acks=all) -> record, in order, once per notice id
    (publishing: services.hubkit.publisher, shared with the console and CP-IS)
    retractions  ... the desk (store, publish, record) and the audit service client
    retraction_routes  POST /v1/retractions, GET /v1/retractions/{id} (mounted by http)
    http         FastAPI app factory, lifespan wiring, auth dependency, error mapping
    settings     AdapterSettings and the local port plan
    errors       the error tree and the HTTP status of each error

Import from the modules; this package re-exports nothing, so importing a pure module never
imports the web framework.
"""

__all__: list[str] = []
