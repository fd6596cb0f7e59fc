"""The audit service's browser tests use the console's Chromium set-up (Debian's Chromium,
installed by scripts/install-system-deps.sh) and its screenshots folder."""

from tests.console.browser.conftest import chromium, screenshots

__all__ = ["chromium", "screenshots"]
