#!/usr/bin/env bash
# make node-bench: `make bench` inside the production-node VM (vm/node/: Debian sid, systemd,
# pure cgroup v2, runc and crun from sid), the figures this 2-core hybrid host cannot show:
# run and exec without the cgroup v1 join, where every runtime joins by cgroup2 alone.
# The VM is qemu TCG (no KVM here): every figure is slower than on hardware, so only the
# ratios inside one run mean anything. Prints bench.sh's summary; raw samples go to
# build/node/bench-results.json.
#   ITERATIONS=20 WORKERS=1,2 PAR_SECONDS=3 NODE_SMP=1 scripts/node-bench.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=build/node
mkdir -p "$out"
scripts/node-image.sh || exit 1
env=$out/bench-env.$$
trap 'rm -f "$env"' EXIT
{ echo "ITERATIONS=${ITERATIONS:-20}"
  echo "WORKERS=${WORKERS-1,2}"
  echo "PAR_SECONDS=${PAR_SECONDS:-3}"
  echo "export ITERATIONS WORKERS PAR_SECONDS"
} >"$env"
log=$out/console-bench.log
NODE_TIMEOUT=${NODE_TIMEOUT:-1800} NODE_ENV=$env NODE_LOG=$log vm/node/run.sh vm/node/bench.sh scripts >/dev/null
rc=$?
tr -d '\r' <"$log" | sed -n '/^NODE-BENCH-BEGIN/,/^NODE-BENCH-END/p' | grep -v '^NODE-BENCH-'
tr -d '\r' <"$log" | sed -n 's/^NODE-BENCH-JSON: //p' | base64 -d 2>/dev/null | gunzip >"$out/bench-results.json" 2>/dev/null \
    && echo "node-bench: raw samples in $out/bench-results.json" || rm -f "$out/bench-results.json"
[ "$rc" = 0 ] || echo "node-bench: the VM run ended with status $rc (console: $log)"
exit "$rc"
