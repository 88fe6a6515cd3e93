#!/bin/sh
# cgroup v2 end to end (pure v2 VM host, busybox sh): limits written to memory.max,
# pids.max and cpu.max; a pids limit enforced; OOM kill + `events` oom on memory.events;
# pause/resume via cgroup.freeze; the device eBPF program denying a device; update;
# ps; kill --all; delete (also --force on a paused container) removes the cgroup.
set -eu
B="$BULKHEAD --root /run/bh"
CGROOT=/sys/fs/cgroup
ok() { echo "cgroup-v2: ok: $*"; }
fail() { echo "cgroup-v2: FAIL: $*"; exit 1; }
# wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.1 s
wait_for() {
    n=$(($1 * 10)); what=$2; shift 2
    while ! "$@" >/dev/null 2>&1; do
        n=$((n - 1)); [ "$n" -gt 0 ] || fail "timed out waiting for $what"
        sleep 0.1
    done
}
status() { $B state "$1" | sed -n 's/.*"status": "\([a-z]*\)".*/\1/p'; }
is_status() { [ "$(status "$1")" = "$2" ]; }
# bundle DIR CGPATH RESOURCES ARG...: private writable copy of the busybox rootfs
bundle() {
    d=$1 cg=$2 res=$3; shift 3
    vm-bundle "$d" "$@"
    mkdir -p "$d/rootfs"
    cp -a "$CONTAINER_ROOTFS/." "$d/rootfs/"
    sed -i -e "s#\"path\": \"/containers/busybox/rootfs\"#\"path\": \"$d/rootfs\"#" \
        -e 's/"readonly": true/"readonly": false/' \
        -e "/^  \"linux\": {/a\\    \"cgroupsPath\": \"$cg\"," \
        -e "/^    \"resources\": {/a\\      $res" \
        "$d/config.json"
}

# ---- limits written, pids limit enforced ---------------------------------------------
bundle /tmp/c1 /bh-v2-c1 '"memory": {"limit": 33554432}, "pids": {"limit": 8}, "cpu": {"quota": 20000, "period": 100000},' \
    sh -c 'while [ ! -e /go1 ]; do sleep 0.05; done; dd if=/dev/zero of=/dev/null bs=64M count=1; echo $? > /dd.rc; while [ ! -e /go ]; do sleep 0.05; done; sh /fork.sh 2>/err; echo rc=$? > /out; exec sleep 1000'
cat > /tmp/c1/rootfs/fork.sh <<'S'
i=0; while [ $i -lt 20 ]; do sleep 1000 & i=$((i+1)); done
S
grep -q '"cgroupsPath": "/bh-v2-c1"' /tmp/c1/config.json || fail "config edit"
$B run -d --bundle /tmp/c1 c1 </dev/null >/dev/null
D=$CGROOT/bh-v2-c1
[ "$(cat $D/memory.max)" = 33554432 ] || fail "memory.max $(cat $D/memory.max)"
[ "$(cat $D/pids.max)" = 8 ] || fail "pids.max $(cat $D/pids.max)"
[ "$(cat $D/cpu.max)" = "20000 100000" ] || fail "cpu.max $(cat $D/cpu.max)"
pid=$($B state c1 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
grep -qx "$pid" $D/cgroup.procs || fail "init $pid not in $D/cgroup.procs"
ok "memory.max, pids.max, cpu.max written; init in the cgroup"

# events in the background from now on (stats every second, oom lines)
$B events --interval 1s c1 > /tmp/ev &
evpid=$!
wait_for 20 "a stats event" grep -q '"type":"stats"' /tmp/ev
# OOM: a 64 MiB buffer in a 32 MiB cgroup; events reports it
touch /tmp/c1/rootfs/go1
wait_for 20 "dd's status" test -s /tmp/c1/rootfs/dd.rc
[ "$(cat /tmp/c1/rootfs/dd.rc)" = 137 ] || fail "dd status $(cat /tmp/c1/rootfs/dd.rc) (expected 137: OOM-killed)"
grep -q '^oom_kill [1-9]' $D/memory.events || fail "memory.events: $(cat $D/memory.events)"
wait_for 10 "an oom event" grep -q '"type":"oom","id":"c1"' /tmp/ev
ok "OOM kill in memory.events and reported by events"

touch /tmp/c1/rootfs/go
wait_for 30 "the fork loop" test -s /tmp/c1/rootfs/out
grep -q "can't fork" /tmp/c1/rootfs/err || fail "no fork failure: $(cat /tmp/c1/rootfs/err)"
grep -q '^max [1-9]' $D/pids.events || fail "pids.events: $(cat $D/pids.events)"
cur=$(cat $D/pids.current)
[ "$cur" -le 8 ] || fail "pids.current $cur > 8"
ok "pids limit enforced (pids.current $cur, $(grep max $D/pids.events))"

# ps: exactly the pids of the cgroup
wait_for 10 "ps" sh -c "[ \"\$($B ps --format json c1 | tr -d '[]' | tr ',' '\n' | sort -n | tr '\n' ' ')\" = \"\$(sort -n $D/cgroup.procs | tr '\n' ' ')\" ]"
ok "ps --format json = cgroup.procs ($(cat $D/cgroup.procs | wc -l) pids)"
$B events --stats c1 | grep -q '"pids":{"current":' || fail "events --stats: $($B events --stats c1)"

# ---- pause / resume via cgroup.freeze -------------------------------------------------
$B pause c1
[ "$(cat $D/cgroup.freeze)" = 1 ] || fail "cgroup.freeze not 1"
grep -qx 'frozen 1' $D/cgroup.events || fail "not frozen: $(cat $D/cgroup.events)"
is_status c1 paused || fail "status $(status c1) after pause"
if $B pause c1 2>/dev/null; then fail "pause of a paused container succeeded"; fi
$B kill --all c1 CONT
grep -qx 'frozen 1' $D/cgroup.events || fail "kill --all thawed a paused container"
$B resume c1
[ "$(cat $D/cgroup.freeze)" = 0 ] || fail "cgroup.freeze not 0"
grep -qx 'frozen 0' $D/cgroup.events || fail "still frozen"
is_status c1 running || fail "status $(status c1) after resume"
if $B resume c1 2>/dev/null; then fail "resume of a running container succeeded"; fi
ok "pause/resume via cgroup.freeze"

# ---- update ------------------------------------------------------------------------
$B update c1 --pids-limit 20 --memory 64m --cpu-quota 30000 --cpu-share 1024
[ "$(cat $D/pids.max)" = 20 ] || fail "update pids.max $(cat $D/pids.max)"
[ "$(cat $D/memory.max)" = 67108864 ] || fail "update memory.max $(cat $D/memory.max)"
[ "$(cat $D/cpu.max)" = "30000 100000" ] || fail "update cpu.max $(cat $D/cpu.max)"
[ "$(cat $D/cpu.weight)" = 100 ] || fail "update cpu.weight $(cat $D/cpu.weight) (shares 1024 → 100)"
echo '{"pids": {"limit": 30}, "memory": {"reservation": 16777216}}' | $B update -r - c1
[ "$(cat $D/pids.max)" = 30 ] || fail "update -r - pids.max $(cat $D/pids.max)"
[ "$(cat $D/memory.low)" = 16777216 ] || fail "update -r - memory.low $(cat $D/memory.low)"
if [ -e $D/memory.swap.max ]; then
    $B update c1 --memory-swap 128m   # the memory limit (64m) comes from the saved config
    [ "$(cat $D/memory.swap.max)" = 67108864 ] || fail "memory.swap.max $(cat $D/memory.swap.max)"
fi
grep -q '"limit": 30' /run/bh/c1/config.json || fail "saved config not updated"
ok "update: pids.max, memory.max, cpu.max, cpu.weight, memory.low, saved config"

# ---- kill --all, delete removes the cgroup ----------------------------------------
$B kill --all c1 KILL
wait_for 10 "c1 stopped" is_status c1 stopped
wait_for 10 "events to exit" sh -c "! kill -0 $evpid"
$B delete c1
[ ! -e $D ] || fail "$D still exists after delete"
ok "kill --all, events exits, delete removes the cgroup"

# ---- device eBPF --------------------------------------------------------------------
bundle /tmp/c2 /bh-v2-c2 '' sh -c 'head -c 4 /dev/zero | wc -c; head -c 1 /mem1; echo mem-rc=$?'
mknod /tmp/c2/rootfs/mem1 c 1 1   # /dev/mem's numbers: not in the allowed list
out=$($B run --bundle /tmp/c2 c2 </dev/null 2>&1) || fail "c2: $out"
echo "$out" | grep -q '^ *4$' || fail "reading /dev/zero: $out"
echo "$out" | grep -q 'Operation not permitted' || fail "no EPERM: $out"
echo "$out" | grep -q 'mem-rc=1' || fail "reading 1:1 succeeded: $out"
[ ! -e $CGROOT/bh-v2-c2 ] || fail "c2 cgroup left after run"
ok "device eBPF: /dev/zero readable, c 1:1 denied with EPERM"

# ---- delete --force of a paused container ----------------------------------------
bundle /tmp/c3 /bh-v2-c3 '' sh -c 'sleep 1000 & sleep 1000 & wait'
$B run -d --bundle /tmp/c3 c3 </dev/null >/dev/null
wait_for 10 "c3 processes" sh -c "[ \$(wc -l < $CGROOT/bh-v2-c3/cgroup.procs) = 3 ]"
$B pause c3
$B delete --force c3
[ ! -e $CGROOT/bh-v2-c3 ] || fail "c3 cgroup left after delete --force"
[ ! -e /run/bh/c3 ] || fail "c3 state left"
ok "delete --force of a paused container"

# ---- 512 KiB memory floor -----------------------------------------------------------
bundle /tmp/c4 /bh-v2-c4 '"memory": {"limit": 524288},' true
if out=$($B run --bundle /tmp/c4 c4 </dev/null 2>&1); then
    ok "a 512 KiB container runs true"
else
    echo "cgroup-v2: note: 512 KiB container failed: $out"
    fail "512 KiB floor"
fi
