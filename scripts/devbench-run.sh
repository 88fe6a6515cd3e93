#!/usr/bin/env bash
# Device benchmark (16-core pure cgroup v2): bulkhead vs crun vs runc, and the floor.
#   bash .devbench/run.sh OUTDIR [ITERATIONS] [WORKERS] [PAR_SECONDS]   (run.sh = this file, placed
#   there by scripts/devbench-prepare.sh)
# Everything it needs travels in this folder: the static bulkhead, crun and runc with their
# non-libc libraries (lib/, through LD_LIBRARY_PATH), static busybox, GNU time, unshare,
# bench.py and config.template.json (from `runc spec`).
set -u
D=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-/tmp/devbench-out}; N=${2:-50}; WORKERS=${3:-1,4,16,32}; PS=${4:-4}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$D/lib
export PATH=$PATH:$D/bin
W=/tmp/devbench; rm -rf "$W"; mkdir -p "$W/rootfs"
{
echo "== host"; uname -a; nproc; free -g | head -2; cat /proc/self/cgroup
stat -fc %T /sys/fs/cgroup; cat /sys/fs/cgroup/cgroup.subtree_control 2>&1
findmnt -no FSTYPE,OPTIONS -T /tmp 2>/dev/null || df -T /tmp
command -v unshare python3; python3 --version
"$D/crun" --version | head -1; "$D/runc" --version | head -1; "$D/bulkhead" --version | head -1
} 2>&1 | tee "$OUT/host.txt"
# busybox rootfs
r=$W/rootfs; mkdir -p "$r"/{bin,dev,etc,proc,sys,tmp,run,root}; chmod 1777 "$r/tmp"
cp "$D/busybox" "$r/bin/busybox"
for a in $("$D/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
ln -s bin "$r/sbin"; mkdir -p "$r/usr"; ln -s ../bin "$r/usr/bin"; ln -s ../bin "$r/usr/sbin"
echo 'root:x:0:0:root:/root:/bin/sh' > "$r/etc/passwd"; echo 'root:x:0:' > "$r/etc/group"
python3 - "$D/config.template.json" "$W/config.template.json" "$r" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1])); cfg["root"]["path"] = sys.argv[3]
json.dump(cfg, open(sys.argv[2], "w"), indent=1)
PY
TIMEBIN=/usr/bin/time; [ -x "$TIMEBIN" ] || TIMEBIN=$D/bin/time
cleanup() {
    for rt in bulkhead crun runc; do
        for d in "$W/$rt/root"/*/; do [ -d "$d" ] && "$D/$rt" --root "$W/$rt/root" delete --force "$(basename "$d")" >/dev/null 2>&1; done
    done
    find /sys/fs/cgroup -maxdepth 3 -name 'bhb-*' -type d -exec rmdir {} + 2>/dev/null
}
trap cleanup EXIT
cd "$W"
SC=(); [ -f "$D/seccomp.json" ] && SC=(--seccomp "$D/seccomp.json")   # run-sc, exec-sc
NS=; mountpoint -q /sys/fs/cgroup/unified 2>/dev/null && NS=crun   # a hybrid host (this one when tested here)
PYTHONUNBUFFERED=1 BENCH_TIME=$TIMEBIN timeout 300 python3 "$D/bench.py" --dir "$W" --template "$W/config.template.json" \
    -n "$N" --optional bulkhead --ns-runtimes "$NS" --workers "$WORKERS" --par-seconds "$PS" "${SC[@]}" \
    --out "$OUT/results.json" --runtime bulkhead="$D/bulkhead" --runtime crun="$D/crun" --runtime runc="$D/runc" 2>&1 | tee "$OUT/bench.txt"
echo "== second parallel pass (16 and 32 workers)" | tee -a "$OUT/bench.txt"
PYTHONUNBUFFERED=1 BENCH_TIME=$TIMEBIN timeout 100 python3 "$D/bench.py" --dir "$W" --template "$W/config.template.json" \
    -n 0 --warmup 0 --rss-iterations 0 --optional bulkhead --ns-runtimes "$NS" --workers 16,32 --par-seconds "$PS" \
    --out "$OUT/results2.json" --runtime bulkhead="$D/bulkhead" --runtime crun="$D/crun" --runtime runc="$D/runc" 2>&1 | tail -9 | tee -a "$OUT/bench.txt"
