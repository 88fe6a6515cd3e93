#!/usr/bin/env bash
# End-to-end tests: real clients (containerd/ctr, containerd CRI, podman,
# dockerd) driving an OCI runtime.
#   integration/run.sh [containerd|podman|docker|cri|all]...
#   RUNTIME=/path/to/runtime (default: bulkhead's release binary); RUNTIME=$(command -v runc)
#   runs the same steps against runc.
# Prints one line per step (ok / not ok <step>: <reason> / skip <step>: <reason>)
# and ends with `N passed, N failed, N skipped`; exits non-zero on a failure.
# Every daemon gets private state under $WORK (a temp dir) and a cgroup parent
# /bulkhead-it-<client>; port tests run in a network namespace of their own.
# Everything is stopped and removed on exit. Needs root. Logs: $KEEP_LOGS dir if set.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

# the newest of the release builds (make build: target/<triple>/release; cargo build --release)
default_runtime() {
    local t=${CARGO_TARGET_DIR:-$ROOT/target} f
    f=$(ls -t "$t"/x86_64-unknown-linux-musl/release/bulkhead "$t"/x86_64-unknown-linux-gnu/release/bulkhead \
        "$t"/release/bulkhead 2>/dev/null | head -n1)
    echo "${f:-$t/release/bulkhead}"
}
RUNTIME=${RUNTIME:-$(default_runtime)}
RUNTIME=$(readlink -f "$RUNTIME")

source "$HERE/lib.sh"
for f in "$HERE"/clients/*.sh; do source "$f"; done

if [ "$(id -u)" != 0 ]; then echo "integration: must run as root"; exit 1; fi
if ! [ -x "$RUNTIME" ]; then echo "integration: runtime $RUNTIME not found (cargo build --release, or set RUNTIME)"; exit 1; fi

clients=("$@")
[ ${#clients[@]} = 0 ] && clients=(all)
[ "${clients[*]}" = all ] && clients=(containerd cri podman podman-rootless docker)

mkdir -p "${IT_WORK_BASE:-$ROOT/build/it}"
WORK=$(mktemp -d "${IT_WORK_BASE:-$ROOT/build/it}/run.XXXXXX")
IMAGES=${IMAGES_CACHE:-$WORK/images}
finish() {
    local rc=$?
    trap - EXIT INT TERM
    # a step interrupted by a signal: stop it before cleaning up under it
    [ -n "${STEP_PID:-}" ] && kill_tree "$STEP_PID" && wait "$STEP_PID" 2>/dev/null
    [ -n "${DOG_PID:-}" ] && kill "$DOG_PID" 2>/dev/null
    run_cleanups
    for c in "${clients[@]}"; do rm_cgroup "/bulkhead-it-$c"; done
    sleep 0.5   # podman's cleanup processes may still be leaving
    for c in "${clients[@]}"; do rm_cgroup "/bulkhead-it-$c"; done
    if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS"; cp -r "$WORK"/*.log "$KEEP_LOGS"/ 2>/dev/null; fi
    rm -rf "$WORK"; rmdir "$(dirname "$WORK")" 2>/dev/null
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

echo "# runtime: $RUNTIME ($("$RUNTIME" --version 2>/dev/null | head -n1))"
echo "# work dir: $WORK"
start=$SECONDS
CLIENT=images
step "build busybox and pause images (umoci, skopeo)" build_images "$IMAGES"
for CLIENT in "${clients[@]}"; do
    if ! declare -F "client_$CLIENT" >/dev/null; then notok "$CLIENT" "unknown client"; continue; fi
    "client_$CLIENT"
    run_cleanups
done
CLIENT=all
echo "# $((SECONDS - start))s"
echo "$PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" = 0 ]
