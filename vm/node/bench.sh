#!/bin/sh
# In the node VM (run by vm/node/run.sh from scripts/node-bench.sh): `make bench`'s measurement
# (scripts/bench.sh, bench.py) on pure cgroup v2 under systemd, where no runtime has the v1
# join to lose: bulkhead against the node's own runc and crun, the floor in the same run.
# The summary goes to the console between NODE-BENCH-BEGIN and NODE-BENCH-END; the raw
# samples follow as one line `NODE-BENCH-JSON: <base64 of gzip>` for the host to keep.
set -u
[ -f /test/env ] && . /test/env
cd /test || exit 1
echo "NODE-BENCH-BEGIN"
echo "# node: $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), $(nproc) CPU(s), cgroup $(stat -fc %T /sys/fs/cgroup), runc $(runc --version | awk 'NR==1{print $3}'), crun $(crun --version | awk 'NR==1{print $3}')"
BULKHEAD=$BULKHEAD RUNC=$(command -v runc) CRUN=$(command -v crun) BENCH_DIR=/tmp/bench \
    BENCH_OUT=/tmp/results.json scripts/bench.sh 2>&1
rc=$?
echo "NODE-BENCH-END"
[ -f /tmp/results.json ] && echo "NODE-BENCH-JSON: $(gzip -9c /tmp/results.json | base64 -w0)"
exit "$rc"
