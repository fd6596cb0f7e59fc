#!/usr/bin/env bash
# The container tools `safehub images build` and the containers tests need (issue 20):
# podman, buildah and mmdebstrap from Debian, with runc (crun refuses cgroups v1 hosts),
# catatonit (podman builds its pod "pause" image from it: no registry needed), the bridge
# network's DNS (aardvark-dns, netavark) and rootless helpers. Opt-in: the normal test path
# does not run it. Idempotent: installs only what is missing. Needs root (or passwordless sudo).
#   bash scripts/install-container-tools.sh
set -euo pipefail

packages=(podman buildah mmdebstrap runc catatonit netavark aardvark-dns uidmap slirp4netns fuse-overlayfs)
missing=()
for package in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    continue
  fi
  missing+=("$package")
done
if [ "${#missing[@]}" = 0 ]; then
  echo "container tools: present ($(podman --version), $(buildah --version | cut -d' ' -f1-3), mmdebstrap $(mmdebstrap --version | cut -d' ' -f2))"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "container tools: missing ${missing[*]}, and apt-get is not available; install them with your package manager" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "container tools: missing ${missing[*]}; run this script as root (or with passwordless sudo)" >&2
    exit 1
  fi
fi
echo "container tools: installing Debian's ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "container tools: installed ($(podman --version))"
