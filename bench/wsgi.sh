#!/usr/bin/env bash
# evy's WSGI server vs node:http and eventlet.wsgi: hello world (13 bytes,
# keep-alive) under `wrk -t1 -c100 -d5s --latency` and the same with -c1000,
# servers on core 0, wrk on core 1, rounds taking turns (EVY_ROUNDS, default
# 3); medians of req/s and p99 latency. eventlet runs the shared anchor
# (../shared/anchors/eventlet_http.py, or $EVY_ANCHORS) when it is installed.
# EVY_BEFORE=/path/to/another/checkout (built) adds that checkout's server as
# evy_before, in the same rounds: the figures before and after a change.
set -u
cd "$(dirname "$0")/.."
NODE=${NODE:-node} # the Node that runs evy and the node peer
command -v wrk >/dev/null || bench/setup.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. bench/lib.sh
ms() { # wrk latency (850.00us, 1.20ms, 2.00s) in ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
run() { # name cmd...: one round on a fresh server
  local name=$1; shift
  local port; port=$(free_port)
  start_server "$port" "$tmp/$name.err" "$@" "$port"
  taskset -c 1 wrk -t1 -c100 -d1s "http://127.0.0.1:$port/" >/dev/null # warm-up
  for c in 100 1000; do
    taskset -c 1 wrk -t1 -c$c -d5s --latency "http://127.0.0.1:$port/" >"$tmp/$name.out"
    local rps p99 errs
    rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/$name.out")
    p99=$(ms "$(awk '$1 == "99%" {print $2}' "$tmp/$name.out")")
    errs=$(awk '/Non-2xx|Socket errors/' "$tmp/$name.out")
    [ -n "$errs" ] && echo "$name c$c: $errs" >&2
    printf '%s_c%s\t%s\t%s\n' "$name" "$c" "$rps" "$p99" >>"$tmp/raw"
  done
  stop_server
}
: >"$tmp/raw"
anchors=${EVY_ANCHORS:-../shared/anchors}
have_eventlet=0
if [ -f "$anchors/eventlet_http.py" ] && /usr/bin/python3 -c 'import eventlet' 2>/dev/null; then have_eventlet=1; fi
for _ in $(seq "${EVY_ROUNDS:-3}"); do
  run evy "$NODE" bin/evy run bench/wsgi_server.ts
  [ -n "${EVY_BEFORE:-}" ] && run evy_before "$NODE" "$EVY_BEFORE/bin/evy" run "$EVY_BEFORE/bench/wsgi_server.ts"
  run node "$NODE" bench/peers/node_http.mjs
  [ $have_eventlet = 1 ] && run eventlet /usr/bin/python3 "$anchors/eventlet_http.py"
done
med() { awk -F'\t' -v k="$1" -v c="$2" '$1==k {print $c}' "$tmp/raw" | median; }
for c in 100 1000; do
  e=$(med "evy_c$c" 2); n=$(med "node_c$c" 2); v=$(med "eventlet_c$c" 2)
  printf 'wsgi_hello_evy_c%s\t%s\treq/s\tp99 %s ms\n' "$c" "$e" "$(med "evy_c$c" 3)"
  printf 'wsgi_hello_node_http_c%s\t%s\treq/s\tp99 %s ms\n' "$c" "$n" "$(med "node_c$c" 3)"
  if [ -n "${EVY_BEFORE:-}" ]; then
    b=$(med "evy_before_c$c" 2)
    printf 'wsgi_hello_evy_before_c%s\t%s\treq/s\tp99 %s ms\n' "$c" "$b" "$(med "evy_before_c$c" 3)"
    awk -v a="$e" -v b="$b" -v c="$c" 'BEGIN { if (a && b) printf "evy.wsgi/evy.wsgi_before c%s = %.3f\n", c, a / b }'
  fi
  [ -n "$v" ] && printf 'wsgi_hello_eventlet_c%s\t%s\treq/s\tp99 %s ms\n' "$c" "$v" "$(med "eventlet_c$c" 3)"
  awk -v a="$e" -v b="$n" -v c="$c" 'BEGIN { if (a && b) printf "evy.wsgi/node:http c%s = %.2f\n", c, a / b }'
  awk -v a="$e" -v b="$v" -v c="$c" 'BEGIN { if (a && b) printf "evy.wsgi/eventlet.wsgi c%s = %.2f\n", c, a / b }'
done
