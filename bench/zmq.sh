#!/usr/bin/env bash
# ZeroMQ over tcp on loopback: PUSH/PULL messages per second (64-byte
# messages, EVY_ZMQ_MESSAGES, 200,000) and REQ/REP round trips per second
# (EVY_ZMQ_TRIPS, 20,000), both ends in one process: evy's green sockets
# (evy/patched/zmq under `evy run`, bench/zmq_evy.ts) against zeromq.js's own
# async API in plain Node (bench/peers/zmq_node.mjs) and, when Debian's
# python3-zmq and python3-eventlet are installed, pyzmq under Eventlet's green
# zmq (bench/peers/zmq_eventlet.py). EVY_ROUNDS rounds (3), interleaved; the
# median of each, and of the CPU time (every thread) each message or round trip cost. Not pinned: each process has libzmq's I/O thread besides
# its own, and the two share the machine's cores.
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
messages=${EVY_ZMQ_MESSAGES:-200000}
trips=${EVY_ZMQ_TRIPS:-20000}
rounds=${EVY_ROUNDS:-3}
out=$(mktemp)
raw=$(mktemp)
trap 'rm -f "$out" "$raw"' EXIT
have_eventlet=0
if /usr/bin/python3 -c 'import zmq, eventlet.green.zmq' 2>/dev/null; then have_eventlet=1; fi
one() { # name cmd...: one round; its two figures go to $raw as name_figure<TAB>value
  local name=$1; shift
  timeout 300 "$@" "$messages" "$trips" | awk -F'\t' -v n="$name" '{print "zmq_" $1 "_" n "\t" $2}' >>"$raw"
}
for _ in $(seq "$rounds"); do
  one evy node bin/evy run bench/zmq_evy.ts
  one zeromqjs node bench/peers/zmq_node.mjs
  [ $have_eventlet = 1 ] && one eventlet /usr/bin/python3 bench/peers/zmq_eventlet.py
done
names="evy zeromqjs"
[ $have_eventlet = 1 ] && names="$names eventlet"
unit() { case $1 in pushpull) echo msgs/s ;; reqrep) echo round-trips/s ;; *) echo 'us CPU each' ;; esac; }
for fig in pushpull reqrep pushpull_cpu reqrep_cpu; do
  for n in $names; do
    m=$(awk -F'\t' -v k="zmq_${fig}_$n" '$1==k {print $2}' "$raw" | median)
    printf 'zmq_%s_%s\t%s\t%s\n' "$fig" "$n" "$m" "$(unit $fig)" | tee -a "$out"
  done
done
# Throughput ratios (above 1: evy faster), then CPU per operation (below 1:
# evy spends less), which a loaded machine disturbs less than wall time.
echo
peers=zeromqjs
[ $have_eventlet = 1 ] && peers="$peers eventlet"
for p in $peers; do
  label=$([ $p = zeromqjs ] && echo zeromq.js || echo eventlet)
  for fig in pushpull reqrep; do ratio "evy/$label $fig" "zmq_${fig}_evy" "zmq_${fig}_$p"; done
  for fig in pushpull reqrep; do ratio "evy/$label $fig CPU per op" "zmq_${fig}_cpu_evy" "zmq_${fig}_cpu_$p"; done
done
if [ $have_eventlet = 0 ]; then
  echo "python3-zmq or python3-eventlet is not installed (bench/setup.sh installs them): no eventlet figures"
fi
