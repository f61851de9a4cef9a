#!/usr/bin/env bash
# HTTPS under a handshake storm: 300 connections that never send a ClientHello
# plus 400 garbage handshakes a second, while a good client makes fresh HTTPS
# requests one after another (bench/https_storm_load.mjs); evy's WSGI server
# with `ssl` and default options (bench/https_server.ts) vs node:https with
# its defaults. Server on core 0, the storm and the client on core 1;
# EVY_ROUNDS rounds (default 3) taking turns; medians of p50 and p99.
# EVY_BEFORE=/path/to/another/checkout (built) runs the same server file on
# that checkout's evy too, as evy_before.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. bench/lib.sh
localhost_cert "$tmp"
secs=${EVY_STORM_SECS:-10}
run() { # name cmd...
  local name=$1; shift
  local port; port=$(free_port)
  start_server "$port" "$tmp/$name.err" "$@" "$port" "$tmp/key.pem" "$tmp/cert.pem"
  local r; r=$(taskset -c 1 node bench/https_storm_load.mjs "$port" "$tmp/cert.pem" 300 400 "$secs")
  printf '%s\t%s\n' "$name" "$r" | tr ' ' '\t' >>"$tmp/raw"
  stop_server
}
: >"$tmp/raw"
for _ in $(seq "${EVY_ROUNDS:-3}"); do
  run evy node bin/evy run bench/https_server.ts
  [ -n "${EVY_BEFORE:-}" ] && run evy_before node "$EVY_BEFORE/bin/evy" run bench/https_server.ts
  run node node bench/peers/node_https.mjs
done
med() { awk -F'\t' -v k="$1" -v c="$2" '$1==k {print $c}' "$tmp/raw" | median; }
for n in evy ${EVY_BEFORE:+evy_before} node; do
  printf 'https_storm_%s\tanswered %s\tfailed %s\tp50 %s ms\tp99 %s ms\n' "$n" "$(med $n 2)" "$(med $n 3)" "$(med $n 4)" "$(med $n 5)"
done
awk -v a="$(med evy 5)" -v b="$(med node 5)" 'BEGIN { if (a && b) printf "\nevy/node:https p99 under the storm = %.2f (lower is better)\n", a / b }'
