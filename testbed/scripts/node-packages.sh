#!/usr/bin/env bash
# Installs the Debian packages a testbed node runs on, when one is missing: containerd and runc (the
# container runtime), busybox-static (the busybox image's only program) and containernetworking-plugins
# (the CNI bridge, host-local and loopback plugins). Progress goes to standard error.
set -euo pipefail
packages=(containerd runc busybox-static containernetworking-plugins)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
((${#missing[@]})) || exit 0
echo "[testbed] installing Debian packages for the node: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
