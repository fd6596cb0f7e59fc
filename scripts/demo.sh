#!/usr/bin/env bash
# The hub, locally: broker, OPA, gateway, the agency adapters, the identity provider, the child
# index (it keys each child; the adapters ask it) and the MASH triage console, with synthetic
# traffic flowing; prints the console's URL and the
# synthetic sign-in users. Stop with Ctrl-C; `safehub stack down` stops the broker and OPA.
#   bash scripts/demo.sh --once    one batch, then what each subscriber received, and why
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
safehub stack up
exec safehub demo "$@"
