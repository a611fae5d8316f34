#!/usr/bin/env bash
# Fetch the site's JavaScript from the npm registry into DEST, verified by SHA-256.
#   js/fetch.sh DEST     (DEST/<package name>/ holds each unpacked package)
# Idempotent: a package already unpacked at the listed version is skipped.
set -euo pipefail
dest=${1:?usage: js/fetch.sh DEST}
here=$(cd "$(dirname "$0")" && pwd)
command -v npm >/dev/null || { echo "npm not found: install Node.js (apt-get install npm)" >&2; exit 1; }
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -v '^\s*#' "$here/packages.txt" | while read -r spec sum; do
  [ -n "$spec" ] || continue
  name=${spec%@*}
  version=${spec##*@}
  if [ -f "$dest/$name/.version" ] && [ "$(cat "$dest/$name/.version")" = "$version" ]; then
    continue
  fi
  tarball=$(cd "$tmp" && npm pack --silent "$spec" 2>/dev/null | tail -n 1)
  echo "$sum  $tmp/$tarball" | sha256sum --check --quiet - \
    || { echo "checksum mismatch for $spec" >&2; exit 1; }
  rm -rf "$dest/$name.partial"
  mkdir -p "$dest/$name.partial"
  tar -xzf "$tmp/$tarball" -C "$dest/$name.partial" --strip-components=1
  echo "$version" > "$dest/$name.partial/.version"
  rm -rf "$dest/$name"
  mv "$dest/$name.partial" "$dest/$name"
done
