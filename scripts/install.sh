#!/usr/bin/env bash
# Install safehub's Python package and dev tools. Idempotent; pip caches under ~/.cache.
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1 || { echo "safehub: $1 not found; $2" >&2; exit 2; }; }
need python3 "install Python 3.11+ (Debian: apt-get install python3 python3-pip)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "safehub: Python 3.11+ is required, found $(python3 --version)" >&2; exit 2; }
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
