"""The CP-IS lookup (rule R13): an authenticated unscheduled care clinician looks a child up
by NHS number when the child presents, sees only the CP-IS minimum, and the local authority
that owns the plan is notified of the access. No broadcast feed. See README.md.

Functional core (pure, no I/O):
    domain/      requests, register, access, notification
Imperative shell:
    store        the register in SQLite (plans, accesses, outbox), sealed under per-child
                 data keys (services/hubkit/child_keys.py: erasure = deleting a key)
    consumer     the cpis-register feed into the store (read_committed, hub-signed)
    notifier     access notifications out through the outbox, signed as agency CPIS
    service      what a lookup does, in order
    api          the HTTP edge (FastAPI)
    settings     CpisSettings
    bootstrap    the one wiring point
    errors       the error tree

Import from the modules; this package re-exports nothing.
"""

__all__: list[str] = []
