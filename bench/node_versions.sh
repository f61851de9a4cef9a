#!/usr/bin/env bash
# The core, echo and WSGI benchmarks (bench/run.sh, echo.sh, wsgi.sh) on Node 20
# (the `node` on PATH) and on Node 24 (tests/setup/node24.sh, from the npm
# registry), one after the other in this run, then their figures side by side:
# each rate with node24/node20, and each script's evy/peer ratios on both. The
# same dist/ and the same N-API addon run on both. Noisy like every bench here:
# the peers that do not run on Node (eventlet, gevent, C) measure the same thing
# in both passes, so their node24/node20 shows how far the machine drifted.
#   bench/node_versions.sh     (about 10 minutes)
set -eu
cd "$(dirname "$0")/.."
node20=${NODE20:-node}
node24=${NODE24:-$(tests/setup/node24.sh)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for v in 20 24; do
  var=node$v
  bin=${!var}
  echo "== Node $v: $("$bin" --version) ($bin)"
  for b in run echo wsgi; do
    NODE=$bin "bench/$b.sh" | tee -a "$out/$v"
  done
  echo
done
echo "== side by side: Node $("$node20" --version) vs $("$node24" --version)"
# name<TAB>value<TAB>unit lines (rates only) and `name = ratio` lines, from both runs.
awk -F'\t' '
  FNR == 1 { run++ }
  NF >= 3 && $3 ~ /\/s$/ { key = $1 " (" $3 ")"; if (!(key in seen)) { seen[key] = 1; order[++n] = key }; val[run, key] = $2; next }
  / = [0-9.]+$/ { split($0, p, " = "); key = p[1]; if (!(key in seen)) { seen[key] = 1; order[++n] = key; ratio[key] = 1 }; val[run, key] = p[2] }
  END {
    printf "%-56s %12s %12s %14s\n", "", "node20", "node24", "node24/node20"
    for (i = 1; i <= n; i++) {
      k = order[i]; a = val[1, k]; b = val[2, k]
      if (a == "" || b == "") continue
      if (k in ratio) printf "%-56s %12s %12s\n", k, a, b
      else printf "%-56s %12.0f %12.0f %14.2f\n", k, a, b, (a > 0 ? b / a : 0)
    }
  }' "$out/20" "$out/24"
