#!/usr/bin/env bash
# TLS echo, 64-byte ping-pong, 50 connections, 3 s, 3 rounds: evy's wrapSsl
# server (native TLS on a green socket) vs node:tls; then full handshakes per
# second (no resumption, 8 clients at a time) against the same two servers.
# Server on core 0, the node:tls load generators on core 1. Prints medians and
# the ratios.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. bench/lib.sh
localhost_cert "$tmp"
conns=${EVY_TLS_CONNS:-50}
run() { # name cmd...
  local name=$1; shift
  local port; port=$(free_port)
  start_server "$port" "$tmp/$name.err" "$@" "$port" "$tmp/key.pem" "$tmp/cert.pem"
  local r; r=$(taskset -c 1 node bench/tls_load.mjs "$port" "$conns" 3 | awk '{print $1}')
  printf '%s\t%s\n' "$name" "$r" >>"$tmp/raw"
  r=$(taskset -c 1 node bench/tls_handshake_load.mjs "$port" 8 3 | awk '{print $1}')
  printf '%s_hs\t%s\n' "$name" "$r" >>"$tmp/raw"
  stop_server
}
: >"$tmp/raw"
for _ in $(seq "${EVY_ROUNDS:-3}"); do
  run evy node bin/evy run bench/tls_server.ts
  run node node bench/peers/node_tls.mjs
done
med() { awk -F'\t' -v k="$1" '$1==k {print $2}' "$tmp/raw" | median; }
e=$(med evy); n=$(med node); eh=$(med evy_hs); nh=$(med node_hs)
printf 'tls_echo_evy_c%s\t%s\ttrips/s\n' "$conns" "$e"
printf 'tls_echo_node_c%s\t%s\ttrips/s\n' "$conns" "$n"
printf 'tls_handshake_evy\t%s\thandshakes/s\n' "$eh"
printf 'tls_handshake_node\t%s\thandshakes/s\n' "$nh"
echo
awk -v a="$e" -v b="$n" 'BEGIN { if (a && b) printf "evy wrapSsl/node:tls = %.2f\n", a / b }'
awk -v a="$eh" -v b="$nh" 'BEGIN { if (a && b) printf "evy wrapSsl/node:tls full handshakes = %.2f\n", a / b }'
