"""The gateway's reading of the sharing decision contract (services/hubkit/sharing_decisions.py).

A result that breaks the contract is a PolicyResultInvalid here: no usable decision, so the
notice is retried and nothing is disclosed meanwhile. The decision types themselves are
hubkit's; import them from there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.gateway.errors import PolicyResultInvalid
from services.hubkit.errors import SharingDecisionInvalid
from services.hubkit.sharing_decisions import SharingDecision
from services.hubkit.sharing_decisions import parse_decisions as parse_contract_decisions

__all__ = ["parse_decisions"]


def parse_decisions(result: Any, subscriber_ids: Iterable[str]) -> dict[str, SharingDecision]:
    """Validate a policy result. Every expected subscriber must have a well-formed decision;
    otherwise PolicyResultInvalid (kind "invalid_result")."""
    try:
        return parse_contract_decisions(result, subscriber_ids)
    except SharingDecisionInvalid as error:
        raise PolicyResultInvalid(str(error)) from error
