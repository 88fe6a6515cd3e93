#!/usr/bin/env bash
# Regenerates link/hot-functions.txt: the functions the start-up path executes, which
# scripts/build.sh asks the linker (rust-lld, --symbol-ordering-file) to place first in .text.
#
# Why: the kernel maps a binary's code 64 KiB at a time around each page fault
# ("fault-around"). With the hot functions spread over 3.5 MB of .text, every runtime process
# (create, the init, start, exec, delete) had ~2.9 MB of code pages resident; with them
# packed into the first ~1 MB it has ~1.3 MB. Peak RSS and page-fault time drop with it.
#
# How: a uprobe on every function of an unstripped build (the same code as the release binary:
# only the symbol table differs), the workload below (every command of the start-up path, with
# and without cgroupsPath), and the probes' hit counts (uprobe_profile). tracefs is mounted
# in a private mount namespace and the probes live in a tracing instance of our own; all are
# removed at the end, also on failure. Root only. Takes ~4 minutes (each probe hit traps).
#
# A stale list costs only locality: names that no longer exist are ignored by the linker.
# Regenerate after large changes to the start-up path:  sudo scripts/hot-functions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "hot-functions: must run as root" >&2; exit 1; }
if [ "${1:-}" != --in-namespace ]; then
    exec unshare -m --propagation private "$0" --in-namespace
fi

work=$(mktemp -d /tmp/bh-hot.XXXXXX)
T=$work/tracefs
triple=$(scripts/triple.sh)
# Our tracing instance and probes (tracefs state is the kernel's, not the mount's).
remove_probes() {
    if [ -d "$T/instances/bh-hot" ]; then
        echo 0 >"$T/instances/bh-hot/events/bh_hot/enable" || true
        rmdir "$T/instances/bh-hot" || true
    fi
    local e
    for e in $(grep -o '^p:bh_hot/f[0-9]*' "$T/uprobe_events" | cut -c3-); do
        echo "-:$e" >>"$T/uprobe_events" || true
    done
}
cleanup() {
    if mountpoint -q "$T" 2>/dev/null; then
        remove_probes
        umount "$T"
    fi
    for id in $(ls "$work/root" 2>/dev/null); do "$work/bulkhead" --root "$work/root" delete --force "$id" 2>/dev/null || true; done
    rm -rf "$work"
    local h
    for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do rmdir "$h/bh-hot-$$" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'echo "hot-functions: failed at line $LINENO" >&2' ERR

echo "hot-functions: building an unstripped release binary in $work/target"
CARGO_TARGET_DIR=$work/target CARGO_PROFILE_RELEASE_STRIP=false BULKHEAD_HOT_FUNCTIONS=none scripts/build.sh >/dev/null
cp "$work/target/$triple/release/bulkhead" "$work/bulkhead"

# One uprobe per function in the executable segment (file offset = address - segment address
# + segment offset).
read -r seg_off seg_addr seg_size < <(readelf -lW "$work/bulkhead" | awk '$1=="LOAD" && / R?W?E / {print $2, $3, $6; exit}')
nm --defined-only "$work/bulkhead" | awk '$2 ~ /^[tTwW]$/' | sort -u -k1,1 \
    | python3 -c '
import sys
off, addr, size = (int(x, 16) for x in sys.argv[1:4])
names = open(sys.argv[4], "w")
n = 0
for line in sys.stdin:
    a, _, name = line.split(None, 2)
    a = int(a, 16)
    if addr <= a < addr + size:
        print("p:bh_hot/f%d %s:0x%x" % (n, sys.argv[5], a - addr + off))
        names.write(name)
        n += 1
' "$seg_off" "$seg_addr" "$seg_size" "$work/names" "$work/bulkhead" >"$work/probes"
mkdir -p "$T"
mount -t tracefs nodev "$T"
# A run killed before its cleanup left them in the kernel: this one would fail on them.
remove_probes
while read -r p; do echo "$p" >>"$T/uprobe_events"; done <"$work/probes"
mkdir "$T/instances/bh-hot"
echo 1 >"$T/instances/bh-hot/events/bh_hot/enable"
echo "hot-functions: $(wc -l <"$work/probes") probes; running the workload"

# The workload: every command of the start-up path, twice.
B=$work/bulkhead R=$work/root
scripts/mkbundle.sh "$work/bundle" "$B" /bin/true >/dev/null   # `bulkhead spec` is part of the workload
python3 - "$work" "$$" <<'PY'
import json, os, sys
w, tag = sys.argv[1], sys.argv[2]
c = json.load(open(os.path.join(w, "bundle", "config.json")))
c["root"]["path"] = os.path.join(w, "bundle", "rootfs")
# Every container podman, docker and containerd start has their default seccomp profile: the
# second of each pair runs with it (containers-common's, when installed), so its compile, save
# and load are on the path too.
sys.path.insert(0, "scripts")
import bench_seccomp
path = "/usr/share/containers/seccomp.json"
profile = bench_seccomp.oci_profile(path, c["process"]["capabilities"]["bounding"]) if os.path.exists(path) else None
def bundle(name, args, cg, seccomp=None):
    d = os.path.join(w, name)
    os.makedirs(d, exist_ok=True)
    c["process"]["args"] = args
    if cg:
        c["linux"]["cgroupsPath"] = cg
    else:
        c["linux"].pop("cgroupsPath", None)
    json.dump(bench_seccomp.with_profile(c, seccomp) if seccomp else c, open(os.path.join(d, "config.json"), "w"))
bundle("b-true", ["true"], "/bh-hot-%s/r" % tag)
bundle("b-true-sc", ["true"], "/bh-hot-%s/s" % tag, profile)
for i in (1, 2):
    bundle("b-sleep%d" % i, ["sleep", "1000"], "/bh-hot-%s/d%d" % (tag, i), profile if i == 2 else None)
bundle("b-nocg", ["true"], None)
PY
# Hit counts are cumulative: a snapshot after each phase tells which phases hit a function.
snap() { cp "$T/uprobe_profile" "$work/profile.$1"; }
for i in 1 2; do
    $B --root $R run -d --bundle "$work/b-sleep$i" d$i </dev/null >/dev/null
done
snap setup
for i in 1 2; do
    $B --root $R exec d$i /bin/true
done
snap exec
for i in 1 2; do
    $B --root $R run --bundle "$work/b-true" r$i </dev/null >/dev/null
    $B --root $R run --bundle "$work/b-true-sc" s$i </dev/null >/dev/null
    $B --root $R run --bundle "$work/b-nocg" n$i </dev/null >/dev/null
done
snap run
for i in 1 2; do
    $B --root $R create --bundle "$work/b-true" --pid-file "$work/pid" c$i </dev/null >/dev/null
    $B --root $R state c$i >/dev/null
    $B --root $R start c$i
    for _ in $(seq 50); do [ "$($B --root $R state c$i | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = stopped ] && break; sleep 0.1; done
    $B --root $R delete c$i
done
snap lifecycle
for i in 1 2; do
    $B --root $R state d$i >/dev/null
    $B --root $R list >/dev/null
    $B --root $R ps d$i >/dev/null
    $B --root $R pause d$i
    $B --root $R resume d$i
    $B --root $R update --pids-limit 100 d$i
    $B --root $R events --stats d$i >/dev/null
    $B --root $R kill d$i KILL
    $B --root $R delete --force d$i
done
snap other
echo 0 >"$T/instances/bh-hot/events/bh_hot/enable"

# The order, in blocks (hit counts descending within each), so that each command's code is
# one run of pages rather than pages scattered among every other command's:
#   1. hit by exec, run and the lifecycle (the allocator, memcpy, clap, serde, the state);
#   2. exec's alone or with the lifecycle's, then exec's shared with run only;
#   3. run's alone, then run's and the lifecycle's (the create path, the init);
#   4. the lifecycle's alone, then the other commands' and the setup's.
# exec then touches blocks 1-2 and run blocks 1-3: fewer faulted pages, page-table entries
# and pages to unmap at exit than with one order by hit count for all commands.
python3 - "$work/names" "$work" "$work/bulkhead" >"$work/hot.txt" <<'PY'
import sys
names = open(sys.argv[1]).read().split("\n")
def counts(phase):
    c = {}
    for line in open("%s/profile.%s" % (sys.argv[2], phase)):
        # "  FILE EVENT HITS", the event without its group
        f = line.split()
        if len(f) == 3 and f[0] == sys.argv[3] and f[1].startswith("f"):
            c[int(f[1][1:])] = int(f[2])
    return c
phases = ["setup", "exec", "run", "lifecycle", "other"]
snaps = [counts(p) for p in phases]
def hit(i, k):  # hit during phase k
    return snaps[k].get(i, 0) > (snaps[k - 1].get(i, 0) if k else 0)
def block(i):
    e, r, l = hit(i, 1), hit(i, 2), hit(i, 3)
    if e and r and l:
        return 0
    if e:
        return 2 if r else 1
    if r:
        return 4 if l else 3
    return 5 if l else 6
for _, _, name in sorted((block(i), -n, names[i]) for i, n in snaps[-1].items() if n > 0):
    print(name)
PY
n=$(wc -l <"$work/hot.txt")
[ "$n" -gt 100 ] || { echo "hot-functions: only $n functions were hit: link/hot-functions.txt left as it was" >&2; exit 1; }
mv "$work/hot.txt" link/hot-functions.txt
echo "hot-functions: $n functions written to link/hot-functions.txt"
