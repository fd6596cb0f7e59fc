"""The child index's errors, one root; the edge maps them to HTTP.

ChildIndexError
├── LinkageSecretMissing    the secret file is absent or not 32+ bytes (the index cannot start)
├── StoreUnreadable         the store key does not open the index file's data keys (a lost or
│                           replaced store.key; the index cannot start)
├── ModelMismatch           model.json's comparisons are not the ones the online scorer was
│                           written for (matching/online.py; the index cannot start)
└── RequestRefused          a request the edge answers with a problem document
    ├── BodyTooLarge        413: the body is over the configured limit
    ├── BodyInvalid         422: not JSON of the documented shape
    ├── ChildNotFound       404: no child has that key
    ├── ReviewNotFound      404: no review has that id
    └── ReviewAlreadyDecided 409: someone answered the review first
"""

from __future__ import annotations

from services.hubkit.errors import HubError

__all__ = [
    "BodyInvalid",
    "BodyTooLarge",
    "ChildIndexError",
    "ChildNotFound",
    "LinkageSecretMissing",
    "RequestRefused",
    "ReviewAlreadyDecided",
    "ReviewNotFound",
    "StoreUnreadable",
]


class ChildIndexError(HubError):
    """Root of the child index's errors."""


class LinkageSecretMissing(ChildIndexError):
    """The index cannot key anything without its secret: refuse to start."""


class StoreUnreadable(ChildIndexError):
    """The index file's sealed data does not open with the store key: refuse to start."""


class RequestRefused(ChildIndexError):
    status = 400
    problem = "bad-request"
    title = "Bad request"


class BodyTooLarge(RequestRefused):
    status = 413
    problem = "body-too-large"
    title = "Request body too large"


class BodyInvalid(RequestRefused):
    status = 422
    problem = "body-invalid"
    title = "Request body invalid"


class ChildNotFound(RequestRefused):
    status = 404
    problem = "child-not-found"
    title = "Child not found"


class ReviewNotFound(RequestRefused):
    status = 404
    problem = "review-not-found"
    title = "Review not found"


class ReviewAlreadyDecided(RequestRefused):
    status = 409
    problem = "review-already-decided"
    title = "Review already decided"
