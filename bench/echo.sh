#!/usr/bin/env bash
# TCP echo, 64-byte ping-pong, 100 and 1000 connections, 4 s each: evy's green
# server vs node:net vs plain C on libuv (the ceiling). Servers on core 0, the
# load generator on core 1. Uses the shared measuring tools (echoload.c,
# uv_echo.c) from $EVY_ANCHORS (default ../shared/anchors).
set -u
cd "$(dirname "$0")/.."
anchors=${EVY_ANCHORS:-../shared/anchors}
if [ ! -f "$anchors/echoload.c" ]; then echo "echo.sh: no $anchors/echoload.c; set EVY_ANCHORS" >&2; exit 1; fi
bench/setup.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/echoload" "$anchors/echoload.c" || exit 1
have_c=0
if gcc -O2 -o "$tmp/uv_echo" "$anchors/uv_echo.c" -luv 2>/dev/null; then have_c=1; fi
ulimit -n 65536 2>/dev/null
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
run() { # name cmd...
  local name=$1; shift
  local port; port=$(free_port)
  taskset -c 0 "$@" "$port" >/dev/null 2>"$tmp/$name.err" &
  local pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  for c in 100 1000; do
    local r; r=$(taskset -c 1 "$tmp/echoload" "$port" "$c" 4 64 | awk '{print $1}')
    printf 'echo_%s_c%s\t%s\ttrips/s\n' "$name" "$c" "$r"
  done
  local rss; rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  printf 'echo_%s_peak_rss\t%s\tKiB\n' "$name" "${rss:-?}"
  kill "$pid"; wait "$pid" 2>/dev/null
}
out="$tmp/out"
{
  run evy node bin/evy run bench/echo_server.ts
  run node node bench/peers/node_echo.mjs
  [ $have_c = 1 ] && run c_libuv "$tmp/uv_echo"
} | tee "$out"
val() { awk -F'\t' -v k="$1" '$1==k {print $2}' "$out"; }
ratio() { awk -v a="$(val "$2")" -v b="$(val "$3")" -v n="$1" 'BEGIN { if (a && b) printf "%s = %.2f\n", n, a / b }'; }
echo
for c in 100 1000; do
  ratio "evy/node:net c$c" "echo_evy_c$c" "echo_node_c$c"
  ratio "evy/C c$c" "echo_evy_c$c" "echo_c_libuv_c$c"
done
