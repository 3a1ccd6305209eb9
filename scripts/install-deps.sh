#!/usr/bin/env bash
# Installs the Debian packages stripe-asio needs to build and test, when they are missing.
# Usage: scripts/install-deps.sh [extra-package ...]
set -euo pipefail

packages=(cmake make g++ pkg-config ca-certificates
          libboost1.81-dev libboost-json1.81-dev libssl-dev doctest-dev
          libhiredis-dev redis-server "$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}"
as_root=()
[ "$(id -u)" -ne 0 ] && as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q || true
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
