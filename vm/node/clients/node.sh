# Node-only flows for vm/node/flows.sh (copied next to integration/clients/ in the VM and
# sourced by integration/run.sh): containerd's OOM event, CRI's update and a hostUsers: false
# pod, the placement case, what only a real v2 host shows (memory.oom.group, cgroup.kill,
# cgroup namespace, the device filter under a systemd-owned parent) and `criu check`.
# Bundles use the node runc's default spec (the same config for every RUNTIME) and a
# busybox-static rootfs.

NODE_RT=/run/bhnode-rt
nrt() { "$RUNTIME" --root "$NODE_RT" "$@"; }

# node_bundle DIR CGROUPSPATH|- ARG...: a bundle with config.json from `runc spec`, the
# rootfs shared (read-only) in /var/lib/bhnode-rootfs, args ARG... (Not under /run: systemd
# 262 mounts it noexec. runc still runs such a rootfs read-only, its remount clearing the
# inherited noexec; bulkhead keeps the flags and finds no executable.)
node_bundle() {
    local d=$1 cg=$2; shift 2
    local r=/var/lib/bhnode-rootfs a
    if [ ! -x "$r/bin/busybox" ]; then
        mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/etc"
        cp /bin/busybox "$r/bin/busybox"
        for a in $(busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
        echo 'root:x:0:0:root:/:/bin/sh' >"$r/etc/passwd"
    fi
    rm -rf "$d"; mkdir -p "$d"
    (cd "$d" && runc spec) || return 1
    python3 - "$d/config.json" "$r" "$cg" "$@" <<'PY'
import json, sys
path, root, cg, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
c = json.load(open(path))
c["root"] = {"path": root, "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = args
c["process"]["env"] = ["PATH=/bin"]
if cg != "-":
    c["linux"]["cgroupsPath"] = cg
json.dump(c, open(path, "w"), indent=1)
PY
}
# node_cfg DIR PYTHON: edit DIR/config.json with a Python statement on `c`
node_cfg() {
    python3 - "$1/config.json" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
}
# cgroups named NAME anywhere in the hierarchy (what a run must not leave behind)
cg_left() { find /sys/fs/cgroup -name "$1" -type d 2>/dev/null; }
none_left() { local l; l=$(cg_left "$1"); [ -z "$l" ] || { echo "cgroup left behind: $l"; return 1; }; }

# ---- containerd: the OOM event (ctr) ---------------------------------------------------
# (ctr 2 has no update command: the runtime's `update` is driven through CRI's
# UpdateContainerResources in client_cri below.)
cd_oom_event() {
    local ev=$WORK/ctr-events
    ctrc events >"$ev" 2>&1 &
    local epid=$!
    sleep 1
    ctr_run oom1 -d --memory-limit 16777216 "$IMG" oom1 sh -c 'tail /dev/zero' && retry 150 grep -q '/tasks/oom' "$ev"
    local rc=$?
    kill "$epid" 2>/dev/null; wait "$epid" 2>/dev/null
    [ "$rc" = 0 ] || { echo "no /tasks/oom event: $(tail -n 3 "$ev" | tr '\n' ' ')"; return 1; }
    wait_status oom1 STOPPED
}
cd_delete_extra() {
    ctrc task delete oom1 && ctrc containers delete oom1 &&
        expect "tasks left" "$(ctrc task ls -q)" ""
}
# client_containerd plus the steps the node adds, before its cleanup
eval "$(declare -f client_containerd | sed '1s/client_containerd/client_containerd_base/')"
client_containerd() {
    CONTAINERD_PID=
    client_containerd_base
    [ -n "${CONTAINERD_PID:-}" ] || return
    step "OOM event (/tasks/oom)" cd_oom_event
    step "delete (OOM container)" cd_delete_extra
    step "nothing left in the runtime root (after OOM)" cd_root_empty
}

# ---- placement: from a systemd service and from a populated leaf -----------------------
# run_in_service UNIT CMD...: CMD as a transient systemd service (its own populated cgroup
# under system.slice), waiting for it; its output comes back through --pipe.
run_in_service() { local u=$1; shift; systemd-run --quiet --wait --pipe --collect --unit "$u" -p Type=exec "$@" </dev/null; }
place_case() { # WHERE(service|leaf) CGPATH(-|rel|abs)
    local where=$1 kind=$2 id=bhn-$1-$2-$$ cg out
    case "$kind" in -) cg=- ;; rel) cg=bhnrel-$$/$id ;; abs) cg=/bhnode-place-$$/$id ;; esac
    node_bundle "$WORK/$id" "$cg" sh -c 'cat /proc/self/cgroup; echo ran-ok' || return 1
    if [ "$where" = service ]; then
        out=$(run_in_service "$id-svc" "$RUNTIME" --root "$NODE_RT" run --bundle "$WORK/$id" "$id" 2>&1)
    else
        # this step's own cgroup (inside node-test.service, populated by this shell) is the leaf
        out=$(nrt run --bundle "$WORK/$id" "$id" </dev/null 2>&1)
    fi
    contains "container output ($where, cgroupsPath $cg)" "$out" ran-ok || return 1
    # the container's own cgroup must be gone; intermediate ones (the relative path's
    # parent, made next to the caller's cgroup) are left by runc and crun too: removed here
    none_left "$id" || return 1
    find /sys/fs/cgroup -depth -type d \( -name "bhnrel-$$" -o -name "bhnode-place-$$" \) -exec rmdir {} + 2>/dev/null
    return 0
}
place_leaf_populated() {
    # the premise: the caller's cgroup holds processes (the test service's leaf)
    local cg; cg=$(cut -d: -f3 /proc/self/cgroup)
    [ -n "$(cat "/sys/fs/cgroup$cg/cgroup.procs")" ] || { echo "caller's cgroup $cg is empty"; return 1; }
    echo "caller's cgroup $cg is populated" &&
        expect "caller's cgroup type" "$(cat "/sys/fs/cgroup$cg/cgroup.type")" domain
}
client_placement() {
    mkdir -p "$NODE_RT"; on_exit "force_delete $NODE_RT; rm -rf $NODE_RT"
    step "the caller is in a populated leaf cgroup" place_leaf_populated
    step "from a systemd service, no cgroupsPath" place_case service -
    step "from a systemd service, relative cgroupsPath" place_case service rel
    step "from a systemd service, absolute cgroupsPath" place_case service abs
    step "from a populated leaf, no cgroupsPath" place_case leaf -
    step "from a populated leaf, relative cgroupsPath" place_case leaf rel
    step "from a populated leaf, absolute cgroupsPath" place_case leaf abs
}

# ---- what only a real v2 host shows -----------------------------------------------------
CGV2=/bhnode-v2-$$
v2_oom_group() {
    local d=$WORK/oomg out rc=0
    node_bundle "$d" "$CGV2/oomg" sh -c 'sleep 1000 & tail /dev/zero; echo survived' || return 1
    node_cfg "$d" 'c["linux"].setdefault("resources", {})["memory"] = {"limit": 16777216}; c["linux"]["resources"]["unified"] = {"memory.oom.group": "1"}'
    out=$(timeout 120 "$RUNTIME" --root "$NODE_RT" run --bundle "$d" oomg </dev/null 2>&1) || rc=$?
    nrt delete -f oomg >/dev/null 2>&1
    expect "exit status (the whole group killed)" "$rc" 137 || return 1
    if grep -q survived <<<"$out"; then echo "the shell survived the OOM kill: memory.oom.group not applied"; return 1; fi
    rmdir "/sys/fs/cgroup$CGV2" 2>/dev/null; none_left oomg
}
v2_cgroup_kill() {
    local d=$WORK/ckill
    node_bundle "$d" "$CGV2/ckill" sh -c 'trap "" TERM; sleep 1000 & sleep 1000 & wait' || return 1
    nrt run -d --bundle "$d" ckill </dev/null >/dev/null 2>&1 || return 1
    local cg=/sys/fs/cgroup$CGV2/ckill
    retry 25 test "$(wc -l <"$cg/cgroup.procs")" -ge 3 || { echo "procs: $(cat "$cg/cgroup.procs")"; return 1; }
    [ -e "$cg/cgroup.kill" ] || { echo "no cgroup.kill in $cg"; return 1; }
    nrt kill --all ckill KILL || return 1
    retry 50 test -z "$(cat "$cg/cgroup.procs" 2>/dev/null)" || { echo "left in the cgroup: $(cat "$cg/cgroup.procs")"; return 1; }
    retry 25 sh -c "\"$RUNTIME\" --root $NODE_RT state ckill | grep -q '\"stopped\"'" || return 1
    nrt delete ckill && rmdir "/sys/fs/cgroup$CGV2" 2>/dev/null; none_left ckill
}
v2_cgroupns() {
    local d=$WORK/cgns out
    node_bundle "$d" "$CGV2/cgns" sh -c 'cat /proc/self/cgroup; grep " /sys/fs/cgroup " /proc/self/mountinfo; cat /sys/fs/cgroup/cgroup.controllers' || return 1
    node_cfg "$d" 'ns = c["linux"]["namespaces"]; [ns.append({"type": "cgroup"}) for _ in [0] if not any(n["type"] == "cgroup" for n in ns)]; c["linux"]["resources"] = {"pids": {"limit": 64}}'
    out=$(nrt run --bundle "$d" cgns </dev/null 2>&1) || { echo "$out"; return 1; }
    rmdir "/sys/fs/cgroup$CGV2" 2>/dev/null
    contains "cgroup of the init in its namespace" "$out" "0::/" && contains "cgroup2 mounted inside" "$out" cgroup2 &&
        contains "controllers seen inside" "$out" pids
}
v2_devices_systemd_parent() {
    local d=$WORK/devs out
    # a parent that systemd made and owns: a slice of its own (cgroupfs driver writes below it)
    systemctl start "bhnode-$$.slice" 2>/dev/null || systemd-run --quiet --slice "bhnode-$$" --unit "bhnode-hold-$$" sleep 600
    on_exit "systemctl stop bhnode-hold-$$.service bhnode-$$.slice"
    local parent=/bhnode.slice/bhnode-$$.slice
    [ -d "/sys/fs/cgroup$parent" ] || parent=$(systemctl show -P ControlGroup "bhnode-$$.slice")
    [ -d "/sys/fs/cgroup$parent" ] || { echo "no systemd slice cgroup ($parent)"; return 1; }
    # the root disk: reading it is allowed to root outside, denied by the container's filter
    local mm; mm=$(stat -c '%Hr %Lr' /dev/vda) || return 1
    node_bundle "$d" "$parent/devs" sh -c "echo x >/dev/null && echo null-ok; mknod /tmp/blk b $mm && head -c1 /tmp/blk >/dev/null && echo blk-read" || return 1
    node_cfg "$d" 'c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}); c["process"]["capabilities"] = {k: v + ["CAP_MKNOD"] for k, v in c["process"]["capabilities"].items() if k != "ambient"}'
    out=$(nrt run --bundle "$d" devs </dev/null 2>&1)
    contains "/dev/null allowed" "$out" null-ok && contains "block device $mm denied by the eBPF filter" "$out" "Operation not permitted" &&
        none_left devs
}
# A container that runs the runtime (docker-in-docker style, no user namespace): the host's
# /usr bound read-only (the runtime and its libraries at the same path inside), its own
# cgroup namespace with cgroup2 mounted read-write, every capability. The inner container has
# no cgroupsPath: it lands below the outer's cgroup, which holds the outer's processes and is
# the root of its cgroup namespace, so nothing may enable controllers there.
v2_nested() {
    local d=$WORK/nest r=/var/lib/bhnode-nest-rootfs out a
    if [ ! -x "$r/bin/busybox" ]; then
        mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/etc" "$r/usr" "$r/run" "$r/inner" "$r/inner-rootfs"
        cp /bin/busybox "$r/bin/busybox"
        for a in $(busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
        ln -sfn usr/lib "$r/lib"; ln -sfn usr/lib64 "$r/lib64"
        echo 'root:x:0:0:root:/:/bin/sh' >"$r/etc/passwd"
    fi
    node_bundle "$d" "$CGV2/nest" "$RUNTIME" --root /run/inner run --bundle /inner nest-in || return 1
    node_cfg "$d" "c['root']['path'] = '$r'"
    node_bundle "$d/inner" - sh -c 'echo inner-ran; cat /proc/self/cgroup' || return 1
    # no cgroup namespace of its own: its /proc/self/cgroup shows where it landed
    node_cfg "$d/inner" 'c["root"]["path"] = "/inner-rootfs"; c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "cgroup"]'
    node_cfg "$d" "$(cat <<PY
c['mounts'] = [m for m in c['mounts'] if m['destination'] != '/sys/fs/cgroup']
c['mounts'] += [
    {'destination': '/sys/fs/cgroup', 'type': 'cgroup2', 'source': 'cgroup2', 'options': ['nosuid', 'noexec', 'nodev', 'rw']},
    {'destination': '/usr', 'type': 'bind', 'source': '/usr', 'options': ['rbind', 'ro']},
    {'destination': '/inner', 'type': 'bind', 'source': '$d/inner', 'options': ['rbind', 'rw']},
    {'destination': '/inner-rootfs', 'type': 'bind', 'source': '/var/lib/bhnode-rootfs', 'options': ['rbind', 'ro']},
    {'destination': '/run', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['nosuid', 'nodev', 'mode=755']}]
ns = c['linux']['namespaces']
if not any(n['type'] == 'cgroup' for n in ns): ns.append({'type': 'cgroup'})
allcaps = ['CAP_' + n for n in 'CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE'.split()]
c['process']['capabilities'] = {k: allcaps for k in ('bounding', 'effective', 'permitted')}
c['linux']['maskedPaths'] = []
c['linux']['readonlyPaths'] = []
PY
)" || return 1
    out=$(timeout 120 "$RUNTIME" --root "$NODE_RT" run --bundle "$d" nest </dev/null 2>&1); local rc=$?
    nrt delete -f nest >/dev/null 2>&1
    rmdir "/sys/fs/cgroup$CGV2" 2>/dev/null
    [ "$rc" = 0 ] || { echo "outer run: exit $rc: $out"; return 1; }
    contains "the inner container ran" "$out" inner-ran && contains "inner cgroup below the outer's namespace root" "$out" "0::/nest-in" &&
        none_left nest
}
client_cgroupv2() {
    mkdir -p "$NODE_RT"; on_exit "force_delete $NODE_RT; rm -rf $NODE_RT; rmdir /sys/fs/cgroup$CGV2"
    step "memory.oom.group: the whole container killed on OOM" v2_oom_group
    step "kill --all (cgroup.kill) of a container ignoring TERM" v2_cgroup_kill
    step "cgroup namespace, cgroup2 mounted inside" v2_cgroupns
    step "eBPF device filter under a systemd-owned slice" v2_devices_systemd_parent
    step "nested: a container running the runtime (cgroup namespace, cgroup2 rw)" v2_nested
}

# ---- criu -------------------------------------------------------------------------------
criu_check() {
    local out rc=0
    command -v criu >/dev/null || { echo "criu not installed"; return 1; }
    out=$(criu check 2>&1) || rc=$?
    echo "criu $(criu --version | awk '/Version/ {print $2}'): check rc=$rc: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
    echo "CRIU-CHECK: rc=$rc $(tail -n 1 <<<"$out")" >&2
    return 0
}
client_criu() { step "criu check (recorded)" criu_check; }

# ---- CRI: a pod with hostUsers: false (user namespace, idmapped volume) ----------------
CRI_USERNS_MAP=200000:65536
cri_userns_runp() {
    local out
    # the pod's root (uid 200000 outside) must reach its rootfs and bundle through the work
    # dir, which mktemp made 0700 (/var/lib/containerd is 0711 on a node)
    chmod 711 "$WORK" || return 1
    out=$(CRI_USERNS=$CRI_USERNS_MAP cric runp uspod bulkhead "$CRI_CG" 2>"$WORK/cri.uspod.err") || { cri_userns_why "$(cat "$WORK/cri.uspod.err")"; return 1; }
    echo "$out" >"$WORK/cri.uspod"
    expect "pod status" "$(cric podstatus "$out")" "READY bulkhead"
}
# A refused bind source: the permissions along its path (who may reach it) and its mount.
cri_userns_why() {
    local src; src=$(echo "$1" | grep -o 'bind source [^:]*' | head -n1 | cut -d' ' -f3)
    echo "$1"
    [ -n "$src" ] || return 0
    namei -lx "$src" || true
    grep -F " ${src} " /proc/self/mountinfo || true
    ls -ldn "$src" "$(dirname "$src")" || true
    cat /sys/kernel/security/lsm 2>/dev/null; echo
}
cri_userns_create() {
    mkdir -p "$WORK/cri-vol" && echo data >"$WORK/cri-vol/f" && chown 0:0 "$WORK/cri-vol/f" || return 1
    local out
    out=$(CRI_USERNS=$CRI_USERNS_MAP CRI_MOUNT=$WORK/cri-vol:/vol cric create "$(cat "$WORK/cri.uspod"):uspod" u1 "$IMG" "$CRI_CG" sh -c "$CRI_LOOP") || return 1
    echo "$out" >"$WORK/cri.usctr"
    cric start "$out" && expect status "$(cric status "$out")" "RUNNING 0"
}
cri_userns_map() {
    local out
    out=$(cric exec "$(cat "$WORK/cri.usctr")" 20 cat /proc/self/uid_map) || { echo "$out"; return 1; }
    expect "uid_map" "$(echo $out)" "0 200000 65536"
}
cri_userns_volume() {
    local out
    out=$(cric exec "$(cat "$WORK/cri.usctr")" 20 stat -c '%u %g' /vol/f) || { echo "$out"; return 1; }
    expect "owner of the host's root-owned file in the idmapped volume" "$out" "0 0"
}
cri_update() {
    local c; c=$(cat "$WORK/cri.usctr")
    cric update "$c" 67108864 && expect "memory.max after UpdateContainerResources" "$(cric exec "$c" 20 cat /sys/fs/cgroup/memory.max)" 67108864
}
cri_userns_rmp() {
    local p; p=$(cat "$WORK/cri.uspod")
    cric stopp "$p" && cric rmp "$p" && cri_root_empty
}
# The userns pod has a network namespace of its own: CNI with a bridge network of the VM
# (the node's plugins in /usr/lib/cni; addresses kept under the containerd dir).
eval "$(declare -f cri_config | sed '1s/cri_config/cri_config_base/')"
cri_config() {
    local d=$1
    cat >"$d/cni/conf/10-bhit.conflist" <<CNI
{"cniVersion": "1.0.0", "name": "bhit-br", "plugins": [{"type": "bridge", "bridge": "bhit-cni0",
  "isGateway": true, "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.77.0/24"}]],
  "dataDir": "$d/cni/ipam"}}]}
CNI
    cri_config_base "$d" | sed "s|bin_dir = \"$d/cni/bin\"|bin_dir = \"/usr/lib/cni\"|"
}
eval "$(declare -f client_cri | sed '1s/client_cri/client_cri_base/')"
client_cri() {
    CONTAINERD_PID=
    client_cri_base
    [ -n "${CONTAINERD_PID:-}" ] || return
    step "RunPodSandbox, hostUsers false (user namespace $CRI_USERNS_MAP)" cri_userns_runp
    [ -s "$WORK/cri.uspod" ] || return
    step "CreateContainer + Start with an idmapped volume" cri_userns_create
    step "the container's uid_map" cri_userns_map
    step "idmapped volume: host root's file owned by root inside" cri_userns_volume
    step "UpdateContainerResources (memory limit)" cri_update
    step "Stop/RemovePodSandbox (userns pod), nothing left" cri_userns_rmp
}
