#!/usr/bin/env bash
# Install the named Debian packages that are missing; do nothing (not even `apt-get update`)
# when every one is already installed.   usage: scripts/ensure-apt.sh [PACKAGE...]
set -euo pipefail

missing=()
for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
(( ${#missing[@]} == 0 )) && exit 0

echo "installing missing Debian packages: ${missing[*]}" >&2
sudo=()
(( $(id -u) == 0 )) || sudo=(sudo)
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
