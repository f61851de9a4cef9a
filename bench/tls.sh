#!/usr/bin/env bash
# TLS echo, 64-byte ping-pong, 50 connections, 3 s, 3 rounds: evy's wrapSsl
# server (node:tls over a green socket) vs node:tls. Server on core 0, the
# node:tls load generator on core 1. Prints medians and the ratio.
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
  stop_server
}
: >"$tmp/raw"
for _ in $(seq "${EVY_ROUNDS:-3}"); do
  run evy node bin/evy run bench/tls_server.ts
  run node node bench/peers/node_tls.mjs
done
med() { awk -F'\t' -v k="$1" '$1==k {print $2}' "$tmp/raw" | median; }
e=$(med evy); n=$(med node)
printf 'tls_echo_evy_c%s\t%s\ttrips/s\n' "$conns" "$e"
printf 'tls_echo_node_c%s\t%s\ttrips/s\n' "$conns" "$n"
awk -v a="$e" -v b="$n" 'BEGIN { if (a && b) printf "\nevy wrapSsl/node:tls = %.2f\n", a / b }'
