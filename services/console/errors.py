"""Console errors, one root; the edge maps each to what the person sees.

ConsoleError
├── FeedItemInvalid        a feed item that cannot be shown (bad signature owner, shape):
│                          skipped with a log line, never shown (feeds.py)
├── ChildNotIdentifiable   a decision cannot say who it is about (the name is not visible
│                          to the decider): 400, the form explains
└── SignInFailed           the identity provider's answer was not accepted: 400, the start
                           page asks to try again (no details: they could help an attacker)

Refusals (403) are not errors: they are outcomes, audited (domain/access.py).
"""

from __future__ import annotations

__all__ = ["ChildNotIdentifiable", "ConsoleError", "FeedItemInvalid", "SignInFailed"]


class ConsoleError(Exception):
    """Root of the console's errors."""


class FeedItemInvalid(ConsoleError, ValueError):
    pass


class ChildNotIdentifiable(ConsoleError, ValueError):
    pass


class SignInFailed(ConsoleError):
    pass
