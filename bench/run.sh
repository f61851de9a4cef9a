#!/usr/bin/env bash
# evy side by side with its peers, in one run, printed as ratios.
# Not a test: figures are noisy, compare within one run. Pins to cores when it can.
#   bench/run.sh          (about a minute; NODE=/path/to/node picks the Node that runs evy)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
bench/setup.sh
PY=/usr/bin/python3
NODE=${NODE:-node}
pin() { if command -v taskset >/dev/null; then taskset -c 0 "$@"; else "$@"; fi; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
  pin "$NODE" bin/evy run bench/core.ts switch spawn
  pin $PY bench/peers/core_eventlet.py
  pin $PY bench/peers/core_gevent.py
  for k in evy-threads evy-timers; do "$NODE" bin/evy run bench/memory.ts "$k"; done
  "$NODE" --import tsx bench/memory.ts node-async
} | tee "$out"
echo
ratio "evy/eventlet switch" switch_evy switch_eventlet
ratio "evy/gevent switch" switch_evy switch_gevent
ratio "evy/eventlet spawn+wait" spawn_evy spawn_eventlet
ratio "evy/gevent spawn+wait" spawn_evy spawn_gevent
ratio "evy threads/node async functions memory (1e6 sleepers)" mem_evy-threads_per_sleeper mem_node-async_per_sleeper
