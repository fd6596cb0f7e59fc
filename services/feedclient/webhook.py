"""POSTing lines to an agency's own endpoint (edge; the rules are in delivery.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from services.feedclient.delivery import (
    IDEMPOTENCY_HEADER,
    POSITION_HEADER,
    answer_for,
    back_off,
)
from services.feedclient.errors import ReceiverUnavailable
from services.feedclient.lines import FeedLine

__all__ = ["Webhook"]


class Webhook:
    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient,
        retry_for_s: float,
        report: Callable[[str], None],
        first_back_off_s: float = 0.5,
    ) -> None:
        self._url = url
        self._client = client
        self._retry_for_s = retry_for_s
        self._report = report
        self._first_back_off_s = first_back_off_s

    async def deliver(self, line: FeedLine) -> int | None:
        """POST `line` until the receiver answers 2xx (None) or a permanent status (returned);
        ReceiverUnavailable when it keeps failing for the whole retry window."""
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: line.decision_id,
            POSITION_HEADER: line.position.label,
        }
        deadline = time.monotonic() + self._retry_for_s
        delays = back_off(first_s=self._first_back_off_s)
        while True:
            try:
                response = await self._client.post(self._url, content=line.text(), headers=headers)
                answer = answer_for(response.status_code)
                if answer == "delivered":
                    return None
                if answer == "refused":
                    return response.status_code
                why = f"HTTP {response.status_code}"
            except httpx.TransportError as error:  # timeouts, refused connections
                why = type(error).__name__
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise ReceiverUnavailable(
                    f"the webhook kept failing ({why}) for {self._retry_for_s:g}s at "
                    f"{line.position.label}; the position stays there, run again to retry"
                )
            self._report(f"RETRY {line.position.label} webhook answered {why}; again in {delay:g}s")
            await asyncio.sleep(delay)
