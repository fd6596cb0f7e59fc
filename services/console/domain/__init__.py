"""The console's functional core: plain functions and frozen dataclasses, no I/O, no clock.

feed         a feed item as the console holds it (FeedEntry) and its accessors
projection   one subscriber's feed, by notice id and by child; idempotent on notice id
deadlines    working-time decision deadlines (local RAG timescales) and how to say them
views/       queue rows, an item, a child's chronology: what pages show, one module a page
decisions    triage decision validation and the MASH_DECISION notice it becomes
access       refusals, linkage decisions and child searches as ConsoleAccess events (ids,
             codes, digests, pseudonymous keys)
linkage      which linkage keys are one child: the child index's merges and splits
reviews      the child index's review queue: evidence side by side, the checked answer
people       the signed-in person, their feed, session lifetime
links        stable opaque child links (AES-SIV under the console's key); where to return after
             signing in
search       finding a child: the form, the index's matches as this person may see them
labels       words for codes
"""

__all__: list[str] = []
