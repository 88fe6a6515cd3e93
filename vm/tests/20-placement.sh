#!/bin/sh
# Placement from a populated leaf cgroup (a systemd service, a CI runner's shell): the
# caller sits in /caller with every controller delegated to it, and runs containers with
# no cgroupsPath and with a relative one. As runc's fs2 driver (defaultpath.go), both are
# made next to the caller, below its cgroup's parent (→ /<id>, → /rel/x): the caller's own
# cgroup holds tasks, so no controller could be enabled below it. Enabling the
# threaded controllers in the populated /caller would make its children "domain invalid"
# (EOPNOTSUPP when the init joins); the caller's cgroup must be left as it was, and
# nothing left behind.
set -eu
B="$BULKHEAD --root /run/bh"
CG=/sys/fs/cgroup
ok() { echo "placement: ok: $*"; }
fail() { echo "placement: FAIL: $*"; exit 1; }
bundle() { # DIR CGPATH(or -) ARG...
    d=$1 cg=$2; shift 2
    vm-bundle "$d" "$@"
    if [ "$cg" != - ]; then
        sed -i "/^  \"linux\": {/a\\    \"cgroupsPath\": \"$cg\"," "$d/config.json"
    fi
}

mkdir $CG/caller
echo $$ > $CG/caller/cgroup.procs
grep -qx '0::/caller' /proc/self/cgroup || fail "not in /caller: $(cat /proc/self/cgroup)"

bundle /tmp/p1 - sh -c 'cat /proc/self/cgroup'
out=$($B run --bundle /tmp/p1 p1 </dev/null) || fail "run without cgroupsPath from a populated leaf"
[ "$out" = "0::/" ] || [ "$out" = "0::/p1" ] || fail "init's cgroup: $out (want /p1, beside the caller, as runc)"
[ ! -e $CG/p1 ] || fail "/p1 left behind"
ok "no cgroupsPath: runs in /<id> beside the caller, nothing left"

bundle /tmp/p2 rel/x sh -c 'cat /proc/self/cgroup'
out=$($B run --bundle /tmp/p2 p2 </dev/null) || fail "run with relative cgroupsPath from a populated leaf"
[ "$out" = "0::/" ] || [ "$out" = "0::/rel/x" ] || fail "init's cgroup: $out (want /rel/x, as runc)"
[ ! -e $CG/rel/x ] || fail "/rel/x left behind"
rmdir $CG/rel 2>/dev/null || true
ok "relative cgroupsPath: runs under /rel/x beside the caller"

# the caller's cgroup is as it was: a plain domain, no controllers turned on in it
[ "$(cat $CG/caller/cgroup.type)" = domain ] || fail "/caller became $(cat $CG/caller/cgroup.type)"
[ -z "$(cat $CG/caller/cgroup.subtree_control)" ] || fail "/caller subtree_control: $(cat $CG/caller/cgroup.subtree_control)"
ok "the caller's cgroup is untouched"

# an absolute path still gets every controller on the way down
bundle /tmp/p3 /bh-place/c3 sh -c 'cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /proc/self/cgroup'
sed -i '/^    "resources": {/a\      "pids": {"limit": 16},' /tmp/p3/config.json
$B run --bundle /tmp/p3 p3 </dev/null >/dev/null || fail "absolute cgroupsPath with a pids limit"
rmdir $CG/bh-place 2>/dev/null || true
ok "absolute cgroupsPath with a limit"
echo $$ > $CG/cgroup.procs
rmdir $CG/caller/rel 2>/dev/null || true
rmdir $CG/caller
