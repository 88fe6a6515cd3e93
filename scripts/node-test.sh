#!/usr/bin/env bash
# make node-test: the client flows on the production-node VM (vm/node/): containerd 2 (ctr,
# CRI), podman 5, docker 28, the placement case, cgroup v2 checks and `criu check`, run by
# vm/node/flows.sh inside the VM against RUNTIME: bulkhead (default, the static release
# build), runc or crun (the node's own, the references).
# Prints every step line, then one line per flow `node <client> (<driver>): N passed, N failed`
# (driver: systemd for the systemd flow, vm/node/clients/systemd.sh, else cgroupfs)
# and a last line `node: N passed, N failed`. Non-zero on any failure or a missing result.
#   RUNTIME=bulkhead|runc|crun  NODE_CLIENTS="containerd cri ..." (default all)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
RUNTIME=${RUNTIME:-bulkhead}
RUNTIME=$(basename "$RUNTIME")
case "$RUNTIME" in bulkhead|runc|crun) ;; *) echo "node-test: RUNTIME must be bulkhead, runc or crun (the node's own)"; exit 2 ;; esac
out=build/node
mkdir -p "$out"
scripts/node-image.sh || exit 1

# The busybox and pause images as docker-archives, made on the host (integration/lib.sh).
(
    source integration/lib.sh
    build_images "$out/images" >/dev/null
) || { echo "node-test: building the images failed"; exit 1; }
rm -rf "$out/images/oci"

env=$out/env.$$
trap 'rm -f "$env"' EXIT
{ echo "NODE_RUNTIME=$RUNTIME"
  [ -n "${NODE_CLIENTS:-}" ] && echo "NODE_CLIENTS='$NODE_CLIENTS'"
  [ -n "${STEP_TIMEOUT:-}" ] && echo "STEP_TIMEOUT=$STEP_TIMEOUT"
} >"$env"
log=$out/console-$RUNTIME.log
# the node's own runtimes need no bulkhead binary
if [ "$RUNTIME" != bulkhead ] && ! [ -x "${BULKHEAD:-/nonexistent}" ]; then export BULKHEAD=none; fi
NODE_ENV=$env NODE_LOG=$log vm/node/run.sh vm/node/flows.sh integration vm/node/clients "$out/images" >/dev/null
rc=$?

# The step lines and counts, from the console (systemd prefixes nothing on the console).
tr -d '\r' <"$log" | grep -aE '^(ok|not ok|skip) |^# node:|^CRIU-CHECK|^vm/node|NODE-RESULT' || true
[ "$rc" = 0 ] || echo "node-test: the VM run ended with status $rc (console: $log)"
tr -d '\r' <"$log" | awk -v rc="$rc" '
    /^(ok|not ok|skip) [a-z0-9_-]+: / {
        c = ($1 == "not") ? $3 : $2; sub(/:$/, "", c)
        if (c == "images" || c == "all") next
        if (!(c in seen)) { seen[c] = 1; order[++n] = c }
        if ($1 == "ok") p[c]++; else if ($1 == "not") f[c]++; else s[c]++
    }
    END {
        for (i = 1; i <= n; i++) {
            c = order[i]; tp += p[c]; tf += f[c]
            printf "node %s (%s): %d passed, %d failed%s\n", c, (c ~ /systemd/) ? "systemd" : "cgroupfs", p[c], f[c], s[c] ? sprintf(" (%d skipped)", s[c]) : ""
        }
        # a run that failed without a failed step (no boot, a timeout) is one failure
        if (rc != 0 && tf == 0) tf = 1
        printf "node: %d passed, %d failed\n", tp, tf
    }'
exit "$rc"
