#!/usr/bin/env bash
# Patched modules must not slow stock usage: a node:http hello-world server,
# stock (`node`) and greened (`evy run`, monkeyPatch() first), under wrk
# -t1 -c100 for 3 s, 5 rounds taking turns; medians and the ratio.
set -u
cd "$(dirname "$0")/.."
bench/setup.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. bench/lib.sh
run() { # name cmd...
  local name=$1; shift
  local port; port=$(free_port)
  start_server "$port" "$tmp/$name.err" "$@" "$port"
  taskset -c 1 wrk -t1 -c100 -d1s "http://127.0.0.1:$port/" >/dev/null # warm-up
  local r; r=$(taskset -c 1 wrk -t1 -c100 -d3s "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')
  printf '%s\t%s\n' "$name" "$r" >>"$tmp/raw"
  stop_server
}
: >"$tmp/raw"
for _ in $(seq "${EVY_ROUNDS:-5}"); do
  run stock node bench/peers/node_http.mjs
  run patched node bin/evy run bench/peers/node_http.mjs
done
med() { awk -F'\t' -v k="$1" '$1==k {print $2}' "$tmp/raw" | median; }
s=$(med stock); p=$(med patched)
printf 'http_hello_stock\t%s\treq/s\n' "$s"
printf 'http_hello_monkeypatched\t%s\treq/s\n' "$p"
awk -v a="$p" -v b="$s" 'BEGIN { if (a && b) printf "\nmonkeypatched/stock node:http = %.3f\n", a / b }'
