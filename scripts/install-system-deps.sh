#!/usr/bin/env bash
# System packages the test suite needs beyond Python:
# - Debian's PostgreSQL (the audit store's production option; the audit storage tests start a
#   throwaway server from these binaries);
# - Debian's Chromium (the console's browser tests drive it with Playwright, because
#   `playwright install` cannot download browsers here).
# Idempotent: installs only what is missing. Needs root (or passwordless sudo) to install.
#   bash scripts/install-system-deps.sh
set -euo pipefail

have_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}

have_chromium() {
  [ -x /usr/bin/chromium ]
}

chromium_version() {
  # Debian's wrapper script prints a harmless shell warning on stderr; keep the version line.
  /usr/bin/chromium --version 2>/dev/null | head -n 1
}

SUDO=""
apt_updated=0

# apt_install PACKAGE: install one Debian package, or say exactly why it cannot be done.
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$1: missing, and apt-get is not available; install it with your package manager" >&2
    exit 1
  fi
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      SUDO="sudo -n"
    else
      echo "$1: missing; run this script as root (or with passwordless sudo) to install it" >&2
      exit 1
    fi
  fi
  if [ "$apt_updated" = 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  apt-cache policy "$1" | sed -n '1,3p'
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}

if have_postgres; then
  echo "postgresql: present ($(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' '))"
else
  echo "postgresql: installing Debian's postgresql package"
  # The package's post-install starts a default cluster on port 5432; the tests do not use it,
  # they run their own server from a temporary directory on a free loopback port.
  apt_install postgresql
  if ! have_postgres; then
    echo "postgresql: installed, but initdb/pg_ctl are not under /usr/lib/postgresql/*/bin" >&2
    exit 1
  fi
  echo "postgresql: installed ($(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' '))"
fi

if have_chromium; then
  echo "chromium: present ($(chromium_version))"
else
  echo "chromium: installing Debian's chromium package"
  apt_install chromium
  if ! have_chromium; then
    echo "chromium: installed, but /usr/bin/chromium is missing" >&2
    exit 1
  fi
  echo "chromium: installed ($(chromium_version))"
fi

# WeasyPrint (the family's subject access report as PDF) needs Pango; the report's tests read
# the PDF back, and poppler-utils (pdftoppm, pdftotext) lets a person look at its pages.
if ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so.0' && ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0'; then
  echo "pango: present"
else
  echo "pango: installing Debian's libpango-1.0-0 and libpangoft2-1.0-0 (WeasyPrint)"
  apt_install libpango-1.0-0
  apt_install libpangoft2-1.0-0
fi
if command -v pdftoppm >/dev/null 2>&1; then
  echo "poppler-utils: present"
else
  echo "poppler-utils: installing Debian's poppler-utils (pdftoppm, pdftotext)"
  apt_install poppler-utils
fi
