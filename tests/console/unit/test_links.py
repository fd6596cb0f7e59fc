"""Stable child links and the page to return to after signing in (domain/links.py)."""

from __future__ import annotations

import pytest

from services.console.domain.links import LINK_KEY_BYTES, ChildLinks, safe_return_path

CHILD, OTHER = "c" * 64, "d" * 64


def test_a_child_link_is_stable_opaque_and_the_consoles_own() -> None:
    links = ChildLinks(b"k" * LINK_KEY_BYTES)
    link = links.link_for(CHILD)
    # Stable: the same in every session, for everyone, after a restart with the same key.
    assert link == links.link_for(CHILD) == ChildLinks(b"k" * LINK_KEY_BYTES).link_for(CHILD)
    assert link != links.link_for(OTHER)
    assert links.child_key(link) == CHILD
    # Opaque and URL-safe: the linkage key is not in it, nor recoverable without the key.
    assert CHILD not in link
    assert link.replace("-", "").replace("_", "").isalnum()
    assert len(link) == 66
    assert ChildLinks(b"x" * LINK_KEY_BYTES).child_key(link) is None  # another console's key
    # An altered or made-up link stands for nothing.
    altered = link[:-2] + ("A" if link[-2] != "A" else "B") + link[-1]
    for junk in (altered, "", "anything", "a" * 300, link + "x", "é" * 10, link[:22]):
        assert links.child_key(junk) is None
    # A key of any other form (none in the hub) round-trips too.
    assert links.child_key(links.link_for("not-hex")) == "not-hex"


def test_a_link_key_has_one_size() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        ChildLinks(b"short")


@pytest.mark.parametrize(
    "path",
    ["/children/abc", "/items/6f1c2d9e-0000-4000-8000-000000000001", "/queue?show=all&page=2"],
)
def test_a_page_on_this_console_is_returned_to(path: str) -> None:
    assert safe_return_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        None,
        "",
        "https://evil.example/children/x",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "children/x",
        "/children/x\r\nSet-Cookie: a=b",
        "/children/x#frag",
        "/ children",
        "/login",
        "/login?next=/queue",
        "/logout",
        "/auth/callback?code=x",
        "/live/queue",
        "/static/console.js",
        "/" + "a" * 3000,
    ],
)
def test_anything_else_is_never_returned_to(path: object) -> None:
    assert safe_return_path(path) is None
