#!/usr/bin/env bash
# The cost of the inspection tools on the echo benchmark (bench/echo.sh's
# server and load, 64-byte ping-pong, 100 and 1000 connections, 3 s, 3 rounds
# taking turns): evy's echo server as is, with a backdoor listening, with a
# backdoor and a client connected and idle, and with blocking detection at
# 0.1 s. Prints the medians and their ratios to evy's; and the server's CPU
# time per round trip (from /proc, user + system), which a machine busy with
# other work disturbs far less than the throughput.
set -u
cd "$(dirname "$0")/.."
anchors=${EVY_ANCHORS:-../shared/anchors}
if [ ! -f "$anchors/echoload.c" ]; then echo "echo_tools.sh: no $anchors/echoload.c; set EVY_ANCHORS" >&2; exit 1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/echoload" "$anchors/echoload.c" || exit 1
ulimit -n 65536 2>/dev/null
. bench/lib.sh
rounds=${EVY_ROUNDS:-3}
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; } # the server's user + system time
run() { # name [evy run options...]: one round, both connection counts, on a fresh server
  local name=$1; shift
  local port; port=$(free_port)
  start_server "$port" "$tmp/$name.err" node bin/evy run "$@" bench/echo_server.ts "$port"
  local idle=
  if [ "$name" = evy_backdoor_client ]; then
    local bd; bd=$(sed -nE 's/.*backdoor listening on 127\.0\.0\.1:([0-9]+).*/\1/p' "$tmp/$name.err")
    # a client attached and idle after one statement, as an operator's prompt
    # left open; measured once that statement's answer is back (the first one
    # loads node:repl, a one-time cost that is not what is measured here)
    rm -f "$tmp/idle.ready"
    node -e "const s=require('net').connect($bd,'127.0.0.1',()=>s.write('\u0000evy-backdoor 1 {}\n{\"t\":\"line\",\"d\":\"await evy.sleep(0.01); 1\"}\n'));let n=0;s.on('data',(d)=>{n+=String(d).split('\"t\":\"prompt\"').length-1;if(n===2)require('fs').writeFileSync('$tmp/idle.ready','')})" &
    idle=$!
    for _ in $(seq 100); do [ -f "$tmp/idle.ready" ] && break; sleep 0.1; done
    sleep 0.3
  fi
  for c in 100 1000; do
    local t0; t0=$(cpu_ticks)
    local r; r=$(taskset -c 1 "$tmp/echoload" "$port" "$c" 3 64)
    local t1; t1=$(cpu_ticks)
    local v; v=$(echo "$r" | awk '{print $1}')
    printf 'echo_%s_c%s\t%s\n' "$name" "$c" "$v" >>"$tmp/raw"
    # µs of server CPU per round trip
    awk -v a="$t0" -v b="$t1" -v v="$v" -v hz="$hz" -v k="cpu_${name}_c$c" 'BEGIN { if (v > 0) printf "%s\t%.2f\n", k, (b - a) * 1e6 / hz / (v * 3) }' >>"$tmp/raw"
  done
  [ -n "$idle" ] && { kill "$idle"; wait "$idle" 2>/dev/null; }
  stop_server
}
: >"$tmp/raw"
for _ in $(seq "$rounds"); do
  run evy
  run evy_backdoor --backdoor 0
  run evy_backdoor_client --backdoor 0
  run evy_blockwarn --block-warn 0.1
done
out="$tmp/out"
for name in evy evy_backdoor evy_backdoor_client evy_blockwarn; do
  for c in 100 1000; do
    v=$(awk -F'\t' -v k="echo_${name}_c$c" '$1==k {print $2}' "$tmp/raw" | median)
    [ -n "$v" ] && printf 'echo_%s_c%s\t%s\ttrips/s\n' "$name" "$c" "$v"
    v=$(awk -F'\t' -v k="cpu_${name}_c$c" '$1==k {print $2}' "$tmp/raw" | median)
    [ -n "$v" ] && printf 'cpu_%s_c%s\t%s\tµs/trip\n' "$name" "$c" "$v"
  done
done | tee "$out"
RATIO_DIGITS=3
echo
for c in 100 1000; do
  ratio "evy_backdoor/evy c$c" "echo_evy_backdoor_c$c" "echo_evy_c$c"
  ratio "evy_backdoor_client/evy c$c" "echo_evy_backdoor_client_c$c" "echo_evy_c$c"
  ratio "evy_blockwarn/evy c$c" "echo_evy_blockwarn_c$c" "echo_evy_c$c"
done
for c in 100 1000; do
  ratio "cpu/trip evy_backdoor/evy c$c" "cpu_evy_backdoor_c$c" "cpu_evy_c$c"
  ratio "cpu/trip evy_backdoor_client/evy c$c" "cpu_evy_backdoor_client_c$c" "cpu_evy_c$c"
  ratio "cpu/trip evy_blockwarn/evy c$c" "cpu_evy_blockwarn_c$c" "cpu_evy_c$c"
done
