#!/usr/bin/env bash
# evy side by side with its peers, in one run, printed as ratios.
# Not a test: figures are noisy, compare within one run. Pins to cores when it can.
#   bench/run.sh             (about a minute; NODE=/path/to/node picks the Node that runs evy)
#   bench/run.sh --repeat N  the core workloads (switch, spawn) N times in a row, each in
#                            fresh processes, every run's ratios printed, then the memory
#                            figures once. Switches are also compared per CPU-second
#                            (the `cpu` ratios): other load on the machine moves them less.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
repeat=1
if [ "${1:-}" = --repeat ]; then repeat=${2:?--repeat needs a count}; fi
bench/setup.sh
PY=/usr/bin/python3
NODE=${NODE:-node}
pin() { if command -v taskset >/dev/null; then taskset -c 0 "$@"; else "$@"; fi; }
out=$(mktemp)
all=$(mktemp)
trap 'rm -f "$out" "$all"' EXIT
core_ratios() {
  ratio "evy/eventlet switch" switch_evy switch_eventlet
  ratio "evy/eventlet switch cpu" switch_evy_cpu switch_eventlet_cpu
  ratio "evy/gevent switch" switch_evy switch_gevent
  ratio "evy/gevent switch cpu" switch_evy_cpu switch_gevent_cpu
  ratio "evy/eventlet spawn+wait" spawn_evy spawn_eventlet
  ratio "evy/gevent spawn+wait" spawn_evy spawn_gevent
}
for run in $(seq "$repeat"); do
  {
    pin "$NODE" bin/evy run bench/core.ts switch spawn
    pin $PY bench/peers/core_eventlet.py
    pin $PY bench/peers/core_gevent.py
  } | tee "$out"
  if [ "$repeat" -gt 1 ]; then
    echo "-- run $run of $repeat"
    core_ratios | sed "s/^/run $run: /" | tee -a "$all"
    echo
  fi
done
{
  for k in evy-threads evy-timers; do "$NODE" bin/evy run bench/memory.ts "$k"; done
  "$NODE" --import tsx bench/memory.ts node-async
} | tee -a "$out"
echo
if [ "$repeat" -gt 1 ]; then
  echo "every run ($repeat in a row):"
  cat "$all"
  for what in "evy/eventlet switch" "evy/eventlet switch cpu"; do
    awk -v w="$what" -F' = ' '{ sub(/^run [0-9]+: /, "", $1) } $1 == w { v[++n] = $2 } END { if (n) { m = v[1]; s = v[1]; for (i = 2; i <= n; i++) { if (v[i] < m) m = v[i]; s = s " " v[i] } printf "%s: %s (lowest %s)\n", w, s, m } }' "$all"
  done
else
  core_ratios
fi
ratio "evy threads/node async functions memory (1e6 sleepers)" mem_evy-threads_per_sleeper mem_node-async_per_sleeper
