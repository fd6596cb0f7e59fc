"""Where the feed client is: its committed position, as plain data (pure).

The client keeps its own offsets (no consumer group: a feed principal reads with
assign + seek, as hubkit.feed_follower does) in a position file beside its output:

    {"subscriber_id": "mash-manager", "topic": "feed.mash-manager.v1",
     "offsets": {"0": 42, "1": 17, ...}, "output_bytes": 81234, "rejects_bytes": 0}

`offsets` is the next offset to read per partition; `output_bytes` and `rejects_bytes` are
the lengths the output and rejects files had when those offsets were committed. The output
is fsynced before the position file is replaced, so after a crash anything past the
recorded lengths was written for offsets that were never committed: `recovery` truncates it
and those records are read and written again. A crash at any point neither loses nor
repeats a line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from services.feedclient.errors import OutputChanged, PositionUnusable

__all__ = ["FollowPosition", "parse_position", "position_json", "recovery"]


@dataclass(frozen=True, slots=True)
class FollowPosition:
    subscriber_id: str
    topic: str
    offsets: Mapping[int, int] = field(default_factory=dict)
    """Next offset to read, per partition; a partition not named starts at its beginning."""
    output_bytes: int = 0
    rejects_bytes: int = 0

    def advanced(
        self, partition: int, next_offset: int, *, output_bytes: int, rejects_bytes: int
    ) -> FollowPosition:
        return replace(
            self,
            offsets={**self.offsets, partition: next_offset},
            output_bytes=output_bytes,
            rejects_bytes=rejects_bytes,
        )


def position_json(position: FollowPosition) -> str:
    return (
        json.dumps(
            {
                "subscriber_id": position.subscriber_id,
                "topic": position.topic,
                "offsets": {str(p): o for p, o in sorted(position.offsets.items())},
                "output_bytes": position.output_bytes,
                "rejects_bytes": position.rejects_bytes,
            },
            indent=1,
        )
        + "\n"
    )


def parse_position(text: str, *, where: str, subscriber_id: str, topic: str) -> FollowPosition:
    """The position in `text` (a position file's content), checked to be this feed's;
    PositionUnusable naming `where` otherwise."""
    try:
        data: Any = json.loads(text)
        position = FollowPosition(
            subscriber_id=str(data["subscriber_id"]),
            topic=str(data["topic"]),
            offsets={int(p): int(o) for p, o in data["offsets"].items()},
            output_bytes=int(data["output_bytes"]),
            rejects_bytes=int(data["rejects_bytes"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PositionUnusable(
            f"{where} is not a feed client position file; move it aside to start again"
        ) from None
    if (position.subscriber_id, position.topic) != (subscriber_id, topic):
        raise PositionUnusable(
            f"{where} is the position of {position.subscriber_id}'s feed "
            f"({position.topic}), not {subscriber_id}'s ({topic}); give each feed its own files"
        )
    if (
        any(o < 0 for o in position.offsets.values())
        or min(position.output_bytes, position.rejects_bytes) < 0
    ):
        raise PositionUnusable(f"{where} holds a negative offset or length")
    return position


def recovery(recorded: int, actual: int, *, where: str) -> int:
    """The length to truncate a file to on start: what the position recorded. A file shorter
    than that lost lines the client had committed, which it cannot put back."""
    if actual < recorded:
        raise OutputChanged(
            f"{where} holds {actual} bytes but {recorded} were committed: it was truncated or "
            "edited outside the client. Restore it, or move it and its position file aside "
            "to read the feed again from the beginning"
        )
    return recorded
