"""The webhook's rules: 2xx delivered; 408/425/429/5xx retried with a growing, capped
back-off; any other answer is permanent (reported, written to the rejects file)."""

from __future__ import annotations

import itertools

import pytest

from services.feedclient.delivery import answer_for, back_off


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (200, "delivered"),
        (201, "delivered"),
        (204, "delivered"),
        (408, "retry"),
        (425, "retry"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
        (400, "refused"),
        (401, "refused"),
        (404, "refused"),
        (409, "refused"),
        (422, "refused"),
        (301, "refused"),
    ],
)
def test_each_answer(status: int, answer: str) -> None:
    assert answer_for(status) == answer


def test_back_off_grows_and_is_capped() -> None:
    delays = list(itertools.islice(back_off(first_s=0.5, cap_s=4.0), 6))
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
