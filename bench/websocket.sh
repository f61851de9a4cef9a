#!/usr/bin/env bash
# WebSocket echo, 64-byte binary messages ping-ponged over 100 connections,
# 3 s per round, 3 rounds (messages/s, the median): evy's server (WebSocketWSGI
# served by evy/web/wsgi, bench/websocket_server.ts) vs the `ws` package's
# server when it is installed, and Eventlet's (eventlet.websocket under
# eventlet.wsgi) when python3-eventlet is. One load generator for both (plain node:net,
# bench/websocket_load.mjs). Servers on core 0, the load on core 1.
# EVY_WS_DEFLATE=1 turns evy's perMessageDeflate on (the load offers no
# extension, so this measures what merely enabling it costs).
# EVY_BEFORE=/path/to/another/checkout (built) adds that checkout's server as
# evy_before, in the same rounds: the figures before and after a change.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
conns=${EVY_WS_CONNS:-100}
secs=${EVY_WS_SECS:-3}
rounds=${EVY_ROUNDS:-3}
# The server and the load of the round under way, killed by their pids if the
# script ends early (both run in the background: `wait` lets a signal's trap in).
server_pid=
load_pid=
cleanup() {
  for p in $load_pid $server_pid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# pin CORE CMD...: CMD on that core, as this very process (exec), so that
# `pin ... &` leaves in $! the server's own pid and not a subshell's (killing a
# subshell would leave the server running).
pin() {
  local core=$1; shift
  if command -v taskset >/dev/null; then exec taskset -c "$core" "$@"; else exec "$@"; fi
}
. bench/lib.sh
have_eventlet=0
if /usr/bin/python3 -c 'import eventlet.websocket' 2>/dev/null; then have_eventlet=1; fi
have_ws=0
if node -e "require.resolve('ws')" 2>/dev/null; then have_ws=1; fi
run() { # name cmd...: one round on a fresh server
  local name=$1; shift
  local port; port=$(free_port)
  pin 0 "$@" "$port" >/dev/null 2>"$tmp/$name.err" &
  server_pid=$!
  wait_port "$port" 100
  pin 1 node bench/websocket_load.mjs "$port" "$conns" "$secs" >"$tmp/load.out" &
  load_pid=$!
  wait "$load_pid"
  load_pid=
  awk -v n="ws_echo_$name" '{print n "\t" $1}' "$tmp/load.out" >>"$tmp/raw"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null
  server_pid=
}
: >"$tmp/raw"
for _ in $(seq "$rounds"); do
  run evy node bin/evy run bench/websocket_server.ts
  [ -n "${EVY_BEFORE:-}" ] && run evy_before node "$EVY_BEFORE/bin/evy" run "$EVY_BEFORE/bench/websocket_server.ts"
  [ $have_ws = 1 ] && run ws node bench/peers/ws_echo.mjs
  [ $have_eventlet = 1 ] && run eventlet /usr/bin/python3 bench/peers/ws_eventlet.py
done
med() { awk -F'\t' -v k="$1" '$1==k {print $2}' "$tmp/raw" | median; }
evy=$(med ws_echo_evy)
printf 'ws_echo_evy_c%s\t%s\tmsgs/s\n' "$conns" "$evy"
if [ -n "${EVY_BEFORE:-}" ]; then
  before=$(med ws_echo_evy_before)
  printf 'ws_echo_evy_before_c%s\t%s\tmsgs/s\n' "$conns" "$before"
  awk -v a="$evy" -v b="$before" 'BEGIN { if (a && b) printf "evy/evy_before c'"$conns"' = %.3f\n", a / b }'
fi
if [ $have_ws = 1 ]; then
  ws=$(med ws_echo_ws)
  printf 'ws_echo_ws_c%s\t%s\tmsgs/s\n' "$conns" "$ws"
  awk -v a="$evy" -v b="$ws" 'BEGIN { if (a && b) printf "\nevy/ws c'"$conns"' = %.2f\n", a / b }'
else
  echo
  echo "the ws package is not installed (node_modules/ws): evy's figure only, no ratio"
fi
if [ $have_eventlet = 1 ]; then
  ev=$(med ws_echo_eventlet)
  printf 'ws_echo_eventlet_c%s\t%s\tmsgs/s\n' "$conns" "$ev"
  awk -v a="$evy" -v b="$ev" 'BEGIN { if (a && b) printf "evy/eventlet c'"$conns"' = %.2f\n", a / b }'
fi
