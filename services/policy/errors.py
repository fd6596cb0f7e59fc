"""Errors of the IG policy tools, one root so the CLI can report any of them in one place.

PolicyToolError                 root: every message says what failed and what to do next
├── PolicySourceInvalid         a policy directory or bundle file is not a safehub policy
├── NoticeFileInvalid           a notice file cannot be read as JSON, Avro or an envelope
├── NoticeSourceUnavailable     the notice topics cannot be read (broker, credentials)
├── EvaluationFailed            OPA / regopy could not evaluate the policy
└── PublishFailed               a bundle could not be built, signed, verified or published
"""

from __future__ import annotations

__all__ = [
    "EvaluationFailed",
    "NoticeFileInvalid",
    "NoticeSourceUnavailable",
    "PolicySourceInvalid",
    "PolicyToolError",
    "PublishFailed",
]


class PolicyToolError(Exception):
    """Root of every error the policy tools raise on purpose."""


class PolicySourceInvalid(PolicyToolError):
    """The path given as a policy is not a safehub policy tree or bundle."""


class NoticeFileInvalid(PolicyToolError):
    """The notice file is not JSON, Avro single-object, a signed envelope or an Avro file."""


class NoticeSourceUnavailable(PolicyToolError):
    """Recorded notices could not be read from the bus."""


class EvaluationFailed(PolicyToolError):
    """The policy engine failed or answered something other than decisions."""


class PublishFailed(PolicyToolError):
    """Building, signing, verifying or installing a bundle failed; nothing was published."""
