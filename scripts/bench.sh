#!/usr/bin/env bash
# make bench: start-up time, parallel throughput and peak RSS of bulkhead vs runc vs crun,
# and the floor (the config's namespaces unshared, fork, exec) measured in the same run.
#   BULKHEAD=path ITERATIONS=30 WORKERS=1,2,4,8,16 PAR_SECONDS=3 BENCH_SECCOMP=file scripts/bench.sh
# One busybox rootfs in build/bench/rootfs; each runtime gets its own bundle
# (config from `runc spec`, process /bin/true, unique cgroupsPath per run) and
# its own --root under build/bench/<runtime>/. Measurement: scripts/bench.py;
# every sample is kept in build/bench/results.json (BENCH_OUT=path to put it elsewhere).
# BENCH_DIR=dir moves the whole bench directory. The runtimes' --root directories (their
# state) are on a tmpfs, as each runtime's default /run/<runtime> is on a production node:
# /dev/shm/bulkhead-bench.PID, removed at exit (BENCH_STATE_DIR=dir to put them elsewhere).
# bulkhead is optional: if its binary is missing or fails, it is reported as
# "bulkhead: failed" and the others still run. Containers left behind are
# deleted (--force) on exit, also when interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: must run as root" >&2; exit 1; }
dir=${BENCH_DIR:-$PWD/build/bench}
state=${BENCH_STATE_DIR:-/dev/shm/bulkhead-bench.$$}
ITERATIONS=${ITERATIONS:-${N:-30}}
BULKHEAD=${BULKHEAD:-${CARGO_TARGET_DIR:-target}/$(scripts/triple.sh)/release/bulkhead}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
CRUN=${CRUN:-$(command -v crun || echo /usr/bin/crun)}

in_crun_ns() { unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' sh "$@"; }

runtimes=()
add_rt() { # NAME PATH
    if [ -x "$2" ]; then runtimes+=("$1=$(realpath "$2")"); else echo "$1: failed (binary $2 not found)"; fi
}
cleanup() {
    local name path root id
    for spec in "${runtimes[@]}"; do
        name=${spec%%=*}; path=${spec#*=}; root=$state/$name/root
        [ -d "$root" ] || continue
        for d in "$root"/*/; do
            [ -d "$d" ] || continue
            id=$(basename "$d")
            if [ "$name" = crun ]; then
                in_crun_ns "$path" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
            else
                "$path" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
            fi
        done
    done
    # cgroups of runs that were interrupted half-way
    for cg in /sys/fs/cgroup/*/bhb-* /sys/fs/cgroup/bhb-* /sys/fs/cgroup/unified/bhb-*; do
        [ -d "$cg" ] && rmdir "$cg" 2>/dev/null || true
    done
    # Only what we made (each runtime's state is gone after the deletes above).
    [ -n "${BENCH_STATE_DIR:-}" ] || rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

add_rt bulkhead "$BULKHEAD"
add_rt runc "$RUNC"
add_rt crun "$CRUN"

# bundle: busybox rootfs + config template from runc spec
rm -rf "$dir"
mkdir -p "$dir"
scripts/mkbundle.sh "$dir" "$RUNC" /bin/true >/dev/null
mv "$dir/config.json" "$dir/config.template.json"
python3 - "$dir/config.template.json" "$dir/rootfs" <<'PY'
import json, sys
p, rootfs = sys.argv[1], sys.argv[2]
cfg = json.load(open(p))
cfg["root"]["path"] = rootfs
json.dump(cfg, open(p, "w"), indent=2)
PY

echo "bench: $ITERATIONS iterations; runtimes: ${runtimes[*]}"
# crun refuses a hybrid host (cgroup2 mounted at /sys/fs/cgroup/unified): there it runs in a
# private mount namespace without that mount; on a pure v1 or v2 host as it is.
ns_runtimes=
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
    ns_runtimes=crun
    echo "bench: crun runs in private mount namespaces with /sys/fs/cgroup/unified unmounted (made before timing)"
fi
args=()
for spec in "${runtimes[@]}"; do args+=(--runtime "$spec"); done
mkdir -p "$state"
echo "bench: state roots (--root) under $state ($(stat -f -c %T "$state"))"
# The engines' default seccomp profile (containers-common, with podman) for run-sc/exec-sc;
# BENCH_SECCOMP=file for another, empty for none.
seccomp=${BENCH_SECCOMP-/usr/share/containers/seccomp.json}
if [ -n "$seccomp" ] && [ ! -r "$seccomp" ]; then
    echo "bench: no seccomp profile at $seccomp: no run-sc/exec-sc"; seccomp=
fi
python3 scripts/bench.py --dir "$dir" --state-dir "$state" --template "$dir/config.template.json" \
    -n "$ITERATIONS" --optional bulkhead --ns-runtimes "$ns_runtimes" ${seccomp:+--seccomp "$seccomp"} \
    --workers "${WORKERS-1,2,4,8,16}" --par-seconds "${PAR_SECONDS:-3}" ${BENCH_OUT:+--out "$BENCH_OUT"} "${args[@]}"
