"""The CP-IS lookup's functional core: plain functions over frozen dataclasses, no I/O, no
clock, no randomness (times and ids are passed in).

    requests      what a lookup may ask: NHS number (modulus 11) and unscheduled care setting
    register      plan changes from the register feed, how they move a plan, how long held
    access        a lookup's outcome, what is recorded and what the clinician is shown
    notification  the HEALTH_SAFEGUARDING_ALERT that tells the owning LA of an access (R13)

Import from the modules; this package re-exports nothing.
"""

__all__: list[str] = []
