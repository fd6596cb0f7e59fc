"""A receiving agency's feed client (issue 21): follow one subscriber's feed, check every
record (the hub's seal, made for this subscriber, each field against the agency's signature),
and write one JSON line per verified message to a file exactly once, or POST it to a webhook
effectively once. See README.md; the command is `safehub feed follow`.

Functional core (pure): lines.py, position.py, delivery.py. Edge: ledger.py (files),
webhook.py (HTTP), follow.py (Kafka, through hubkit.feed_follower).
"""

__all__: list[str] = []
