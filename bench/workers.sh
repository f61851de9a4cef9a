#!/usr/bin/env bash
# `evy run --workers N`: evy's WSGI hello world (bench/wsgi_server.ts, 13
# bytes, keep-alive) with --workers 2 against --workers 1, and node:cluster
# with 2 workers of node:http as the peer; also --workers 2 with a socket of
# each worker's own (EVY_WORKERS_REUSEPORT=1: SO_REUSEPORT, the kernel picks
# the worker) against the default, one socket the workers share, with
# keep-alive and with a new connection per request (wrk -H 'Connection:
# close': every request is an accept, where the sharing costs most). wrk -t1 -c100 -d5s, rounds taking
# turns (EVY_ROUNDS, default 3), medians. Nothing is pinned: on a 2-core
# machine wrk shares the cores with the workers, so 2 workers cannot double
# the figure; the CPU time the server side spent per request (supervisor and
# workers, from /proc, over the measured 5 s) says where the cores went.
set -u
cd "$(dirname "$0")/.."
NODE=${NODE:-node}
command -v wrk >/dev/null || bench/setup.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. bench/lib.sh
ticks() { # utime+stime of PID and its children, in clock ticks
  local t=0 p
  for p in "$1" $(pgrep -P "$1"); do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
  done
  echo "$t"
}
run() { # name workers cmd...: one round on a fresh server; its stderr says "all N ready"; $close: Connection: close
  local name=$1 n=$2; shift 2
  local port; port=$(free_port)
  local hdr=(); [ -n "${close:-}" ] && hdr=(-H 'Connection: close')
  rm -f "$tmp/$name.err" # not the last round's "all N ready"
  "$@" "$port" >/dev/null 2>"$tmp/$name.err" &
  local pid=$!
  for _ in $(seq 300); do grep -q "all $n ready" "$tmp/$name.err" && break; sleep 0.1; done
  wrk -t1 -c100 -d1s "${hdr[@]}" "http://127.0.0.1:$port/" >/dev/null # warm-up
  local t0; t0=$(ticks "$pid")
  wrk -t1 -c100 -d5s "${hdr[@]}" "http://127.0.0.1:$port/" >"$tmp/$name.out"
  local t1; t1=$(ticks "$pid")
  local rps reqs
  rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/$name.out")
  reqs=$(awk '/requests in/ {print $1}' "$tmp/$name.out")
  awk '/Non-2xx|Socket errors/' "$tmp/$name.out" | sed "s/^/$name: /" >&2
  # CPU µs per request: ticks are 1/CLK_TCK s
  awk -v n="$name" -v r="$rps" -v q="$reqs" -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%s\t%s\t%.1f\n", n, r, q ? d / hz * 1e6 / q : 0 }' >>"$tmp/raw"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null
}
: >"$tmp/raw"
for _ in $(seq "${EVY_ROUNDS:-3}"); do
  run evy_w1 1 "$NODE" bin/evy run --workers 1 bench/wsgi_server.ts
  run evy_w2 2 "$NODE" bin/evy run --workers 2 bench/wsgi_server.ts
  run evy_w2_reuseport 2 env EVY_WORKERS_REUSEPORT=1 "$NODE" bin/evy run --workers 2 bench/wsgi_server.ts
  run node_cluster2 2 "$NODE" bench/peers/node_cluster.mjs 2
  close=1 run evy_w2_close 2 "$NODE" bin/evy run --workers 2 bench/wsgi_server.ts
  close=1 run evy_w2_reuseport_close 2 env EVY_WORKERS_REUSEPORT=1 "$NODE" bin/evy run --workers 2 bench/wsgi_server.ts
done
med() { awk -F'\t' -v k="$1" -v c="$2" '$1==k {print $c}' "$tmp/raw" | median; }
out=$tmp/med
for k in evy_w1 evy_w2 evy_w2_reuseport node_cluster2 evy_w2_close evy_w2_reuseport_close; do
  printf 'wsgi_hello_%s\t%s\treq/s\tcpu %s us/req\n' "$k" "$(med $k 2)" "$(med $k 3)"
  printf '%s\t%s\n' "$k" "$(med $k 2)" >>"$out"
done
printf 'cores\t%s\n' "$(nproc)"
ratio "evy --workers 2/--workers 1" evy_w2 evy_w1
ratio "evy --workers 2/node:cluster 2" evy_w2 node_cluster2
ratio "evy --workers 2 shared socket/SO_REUSEPORT" evy_w2 evy_w2_reuseport
ratio "evy --workers 2 shared socket/SO_REUSEPORT, Connection: close" evy_w2_close evy_w2_reuseport_close
