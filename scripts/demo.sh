#!/usr/bin/env bash
# The hub, locally: broker, OPA, gateway and synthetic traffic, printing what each
# subscriber receives. Stop with Ctrl-C; `safehub stack down` stops the broker and OPA.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
safehub stack up
exec safehub demo "$@"
