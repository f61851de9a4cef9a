#!/usr/bin/env bash
# Promises made and promise reactions run per round trip by evy's echo server
# (bench/echo_server.ts under bench/echo.sh's load: 64-byte ping-pong, 100
# connections, 2 s after a 1 s warm-up). Unlike CPU time these are counts,
# which what else runs on the machine hardly moves (only their per-batch part,
# a few hundredths, follows the batch size): with Node 20's
# AsyncLocalStorage every promise and every reaction calls a promise hook,
# so they are much of evy's user CPU per round trip. EVY_BEFORE=/path/to/another
# checkout (built) counts that checkout's server too.
set -u
cd "$(dirname "$0")/.."
NODE=${NODE:-node}
anchors=${EVY_ANCHORS:-../shared/anchors}
if [ ! -f "$anchors/echoload.c" ]; then echo "echo_promises.sh: no $anchors/echoload.c; set EVY_ANCHORS" >&2; exit 1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/echoload" "$anchors/echoload.c" || exit 1
. bench/lib.sh
count() { # name dir: one server, its counts per round trip
  local name=$1 dir=$2 port; port=$(free_port)
  "$NODE" -r "$PWD/bench/echo_count.cjs" "$dir/bin/evy" run "$dir/bench/echo_server.ts" "$port" >/dev/null 2>"$tmp/$name.err" &
  SERVER_PID=$!
  wait_port "$port"
  "$tmp/echoload" "$port" 100 1 64 >/dev/null
  sleep 0.2; kill -USR2 "$SERVER_PID"; sleep 0.2
  local r; r=$("$tmp/echoload" "$port" 100 2 64)
  sleep 0.2; kill -USR2 "$SERVER_PID"; sleep 0.2
  stop_server
  local trips; trips=$(echo "$r" | sed -E 's/.*\(([0-9]+) trips.*/\1/')
  grep '^echo_count' "$tmp/$name.err" | awk -v t="$trips" -v n="$name" \
    'NR == 1 {p = $2; r = $3} NR == 2 && t > 0 {printf "echo_%s_promises_per_trip\t%.2f\necho_%s_reactions_per_trip\t%.2f\n", n, ($2 - p) / t, n, ($3 - r) / t}'
}
count evy .
[ -n "${EVY_BEFORE:-}" ] && count evy_before "$EVY_BEFORE"
exit 0
