#!/usr/bin/env bash
# The test command: installs what it needs, starts the real stack, runs every check.
#   bash scripts/test.sh            everything (what CI runs)
#   bash scripts/test.sh -k codec   extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/install-system-deps.sh
started_here=0
if ! safehub stack status >/dev/null 2>&1; then started_here=1; fi
safehub stack up
if [ "$started_here" = 1 ] && [ "${SAFEHUB_KEEP_STACK:-0}" != 1 ]; then
  trap 'safehub stack down || true' EXIT
fi

echo "== lint and types"
ruff check services tests bench scripts
ruff format --check services tests bench scripts
mypy services tests bench

echo "== policy checks (real OPA and regal)"
safehub policy lint
safehub policy test

echo "== pytest (unit + integration against the real broker and OPA)"
python3 -m pytest -v -p no:cacheprovider "$@"
