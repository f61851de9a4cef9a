#!/usr/bin/env bash
# TCP echo, 64-byte ping-pong, 100 and 1000 connections, 3 s each, 3 rounds
# (round trips/s, and the server's user and system CPU per round trip): evy's green
# server vs node:net vs plain C on libuv (the ceiling). Servers on core 0, the
# load generator on core 1. Uses the shared measuring tools (echoload.c,
# uv_echo.c) from $EVY_ANCHORS (default ../shared/anchors). EVY_BEFORE=/path/to/another
# checkout (built) adds that checkout's server as evy_before, and evy/before.
set -u
cd "$(dirname "$0")/.."
NODE=${NODE:-node} # the Node that runs evy and the node peer
anchors=${EVY_ANCHORS:-../shared/anchors}
if [ ! -f "$anchors/echoload.c" ]; then echo "echo.sh: no $anchors/echoload.c; set EVY_ANCHORS" >&2; exit 1; fi
bench/setup.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/echoload" "$anchors/echoload.c" || exit 1
have_c=0
if gcc -O2 -o "$tmp/uv_echo" "$anchors/uv_echo.c" -luv 2>/dev/null; then have_c=1; fi
ulimit -n 65536 2>/dev/null
. bench/lib.sh
rounds=${EVY_ROUNDS:-3}
run() { # name cmd...: one round, both connection counts, on a fresh server
  local name=$1; shift
  local port; port=$(free_port)
  start_server "$port" "$tmp/$name.err" "$@" "$port"
  for c in 100 1000; do
    local u0 s0 u1 s1 r
    read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$SERVER_PID/stat")
    r=$(taskset -c 1 "$tmp/echoload" "$port" "$c" 3 64)
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$SERVER_PID/stat")
    printf 'echo_%s_c%s\t%s\n' "$name" "$c" "$(echo "$r" | awk '{print $1}')" >>"$tmp/raw"
    # the server's CPU time per round trip: what it costs, whoever is the bottleneck
    echo "$r" | sed -E 's/.*\(([0-9]+) trips.*/\1/' | awk -v du=$((u1 - u0)) -v ds=$((s1 - s0)) -v k="$(getconf CLK_TCK)" \
      -v n="echo_${name}_c${c}" '$1 > 0 {printf "%s_user_us\t%.2f\n%s_sys_us\t%.2f\n", n, du / k * 1e6 / $1, n, ds / k * 1e6 / $1}' >>"$tmp/raw"
  done
  local rss; rss=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null)
  printf 'echo_%s_peak_rss\t%s\n' "$name" "${rss:-0}" >>"$tmp/raw"
  stop_server
}
# The servers take turns, round after round, so drift on this shared machine
# hits them alike; each figure is the median of its rounds.
: >"$tmp/raw"
for _ in $(seq "$rounds"); do
  run evy "$NODE" bin/evy run bench/echo_server.ts
  [ -n "${EVY_BEFORE:-}" ] && run evy_before "$NODE" "$EVY_BEFORE/bin/evy" run "$EVY_BEFORE/bench/echo_server.ts"
  run node "$NODE" bench/peers/node_echo.mjs
  [ $have_c = 1 ] && run c_libuv "$tmp/uv_echo"
done
out="$tmp/out"
for name in evy evy_before node c_libuv; do
  for k in c100 c100_user_us c100_sys_us c1000 c1000_user_us c1000_sys_us peak_rss; do
    case $k in peak_rss) unit=KiB ;; *_us) unit='us CPU/trip' ;; *) unit=trips/s ;; esac
    v=$(awk -F'\t' -v k="echo_${name}_$k" '$1==k {print $2}' "$tmp/raw" | median)
    [ -n "$v" ] && printf 'echo_%s_%s\t%s\t%s\n' "$name" "$k" "$v" "$unit"
  done
done | tee "$out"
echo
for c in 100 1000; do
  ratio "evy/node:net c$c" "echo_evy_c$c" "echo_node_c$c"
  [ -n "${EVY_BEFORE:-}" ] && ratio "evy/before c$c" "echo_evy_c$c" "echo_evy_before_c$c"
  ratio "evy/C c$c" "echo_evy_c$c" "echo_c_libuv_c$c"
  ratio "node:net/evy user CPU per trip c$c" "echo_node_c${c}_user_us" "echo_evy_c${c}_user_us"
done
