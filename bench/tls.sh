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
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # name cmd...
  local name=$1; shift
  local port; port=$(free_port)
  start_server "$port" "$tmp/$name.err" "$@" "$port" "$tmp/key.pem" "$tmp/cert.pem"
  local c0; c0=$(cpu_ticks "$SERVER_PID")
  local r; r=$(taskset -c 1 node bench/tls_load.mjs "$port" "$conns" 3 | awk '{print $1}')
  local c1; c1=$(cpu_ticks "$SERVER_PID")
  printf '%s\t%s\n' "$name" "$r" >>"$tmp/raw"
  # the server's CPU (user + system) per round trip, in microseconds: what a
  # busy machine disturbs least (the trips/s figures swing with other load)
  awk -v t="$((c1 - c0))" -v r="$r" -v hz="$(getconf CLK_TCK)" 'BEGIN { if (r) printf "%s_cpu\t%.1f\n", "'"$name"'", t / hz * 1e6 / (r * 3) }' >>"$tmp/raw"
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
e=$(med evy); n=$(med node); eh=$(med evy_hs); nh=$(med node_hs); ec=$(med evy_cpu); nc=$(med node_cpu)
printf 'tls_echo_evy_c%s\t%s\ttrips/s\n' "$conns" "$e"
printf 'tls_echo_node_c%s\t%s\ttrips/s\n' "$conns" "$n"
printf 'tls_echo_evy_cpu\t%s\tus/trip (server CPU)\n' "$ec"
printf 'tls_echo_node_cpu\t%s\tus/trip (server CPU)\n' "$nc"
printf 'tls_handshake_evy\t%s\thandshakes/s\n' "$eh"
printf 'tls_handshake_node\t%s\thandshakes/s\n' "$nh"
echo
awk -v a="$e" -v b="$n" 'BEGIN { if (a && b) printf "evy wrapSsl/node:tls = %.2f\n", a / b }'
awk -v a="$ec" -v b="$nc" 'BEGIN { if (a && b) printf "node:tls/evy wrapSsl server CPU per trip = %.2f\n", b / a }'
awk -v a="$eh" -v b="$nh" 'BEGIN { if (a && b) printf "evy wrapSsl/node:tls full handshakes = %.2f\n", a / b }'
