"""Console errors, one root; the edge maps each to what the person sees.

ConsoleError
├── FeedItemInvalid        a feed item that cannot be shown (bad signature owner, shape):
│                          skipped with a log line, never shown (feeds.py)
├── ChildNotIdentifiable   a decision cannot say who it is about (the name is not visible
│                          to the decider): 400, the form explains
├── SignInFailed           the identity provider's answer was not accepted: 400, the start
│                          page asks to try again (no details: they could help an attacker)
└── ChildIndexError        the child index's review queue (child_index.py)
    ├── ChildIndexUnavailable   no answer, a refusal or an answer of another shape: 503, the
    │                           page says nothing was recorded and keeps what was typed
    ├── ReviewNotFound          no such review: 404
    ├── ReviewAlreadyDecided    decided before this answer arrived: 409, the page says by
    │                           whom (you, or someone else) and that nothing changed
    └── SearchNotSpecific       the index would not search on what was typed (too little):
                                400, the search form says what to add

Refusals (403) are not errors: they are outcomes, audited (domain/access.py).
"""

from __future__ import annotations

__all__ = [
    "ChildIndexError",
    "ChildIndexUnavailable",
    "ChildNotIdentifiable",
    "ConsoleError",
    "FeedItemInvalid",
    "ReviewAlreadyDecided",
    "ReviewNotFound",
    "SearchNotSpecific",
    "SignInFailed",
]


class ConsoleError(Exception):
    """Root of the console's errors."""


class FeedItemInvalid(ConsoleError, ValueError):
    pass


class ChildNotIdentifiable(ConsoleError, ValueError):
    pass


class SignInFailed(ConsoleError):
    pass


class ChildIndexError(ConsoleError):
    """The child index did not do what was asked; the message names the kind of failure
    (never an identifier, a name or a rationale)."""


class ChildIndexUnavailable(ChildIndexError):
    pass


class ReviewNotFound(ChildIndexError):
    pass


class ReviewAlreadyDecided(ChildIndexError):
    pass


class SearchNotSpecific(ChildIndexError):
    pass
