# The systemd cgroup driver (`RUNTIME --systemd-cgroup`, issue 13) on the node, for bulkhead
# and the node's runc alike (vm/node/flows.sh; sourced next to node.sh, whose node_bundle and
# node_cfg it uses): transient scopes from `slice:prefix:name` paths, limits seen by systemd
# and in the cgroup files, update, pause/resume, ps, exec, kill --all, delete, failures that
# must leave no unit, a left-over failed unit, a unit name in use, 20 concurrent creates.

SD_RT=/run/bhsd-rt
SD_P=bhsd$$                      # the scopes' prefix: units SD_P-<name>.scope
sdrt() { "$RUNTIME" --systemd-cgroup --root "$SD_RT" "$@"; }
sd_no_unit() { # UNIT: systemd has no such unit (none loaded, none failed)
    local l; l=$(systemctl list-units --all --plain --no-legend "$1" 2>/dev/null)
    [ -z "$l" ] || { echo "unit left: $l"; return 1; }
}
sd_prop() { systemctl show -P "$2" "$1"; }
sd_state_is() { [ "$(sd_prop "$1" ActiveState)" = "$2" ]; }   # UNIT STATE (for retry)

sd_run_limits() {
    local d=$WORK/sd1 u=$SD_P-c1.scope cg
    node_bundle "$d" "system.slice:$SD_P:c1" sleep 1000 || return 1
    node_cfg "$d" 'c["linux"]["resources"] = {"memory": {"limit": 67108864}, "cpu": {"quota": 50000, "period": 100000}, "pids": {"limit": 64}}; c.setdefault("annotations", {})["org.systemd.property.TimeoutStopSec"] = "uint64 7"'
    sdrt run -d --bundle "$d" c1 </dev/null >/dev/null || return 1
    expect "ActiveState" "$(sd_prop "$u" ActiveState)" active &&
        expect "MemoryMax" "$(sd_prop "$u" MemoryMax)" 67108864 &&
        expect "CPUQuotaPerSecUSec" "$(sd_prop "$u" CPUQuotaPerSecUSec)" 500ms &&
        expect "TasksMax" "$(sd_prop "$u" TasksMax)" 64 &&
        expect "TimeoutStopUSec (annotation)" "$(sd_prop "$u" TimeoutStopUSec)" 7s &&
        expect "Delegate" "$(sd_prop "$u" Delegate)" yes || return 1
    cg=/sys/fs/cgroup$(sd_prop "$u" ControlGroup)
    expect "ControlGroup" "$cg" "/sys/fs/cgroup/system.slice/$u" &&
        expect "memory.max" "$(cat "$cg/memory.max")" 67108864 &&
        expect "cpu.max" "$(cat "$cg/cpu.max")" "50000 100000" &&
        expect "pids.max" "$(cat "$cg/pids.max")" 64 &&
        expect "init in the unit" "$(grep -c . "$cg/cgroup.procs")" 1
}
sd_update() {
    local u=$SD_P-c1.scope
    sdrt update --memory 134217728 --pids-limit 100 c1 || return 1
    expect "MemoryMax after update" "$(sd_prop "$u" MemoryMax)" 134217728 &&
        expect "TasksMax after update" "$(sd_prop "$u" TasksMax)" 100 &&
        expect "memory.max after update" "$(cat "/sys/fs/cgroup/system.slice/$u/memory.max")" 134217728
}
sd_pause_resume() {
    local cg=/sys/fs/cgroup/system.slice/$SD_P-c1.scope
    sdrt pause c1 && expect "cgroup.freeze (paused)" "$(cat "$cg/cgroup.freeze")" 1 &&
        contains "state" "$(sdrt state c1)" '"paused"' &&
        sdrt resume c1 && expect "cgroup.freeze (resumed)" "$(cat "$cg/cgroup.freeze")" 0 &&
        contains "state" "$(sdrt state c1)" '"running"'
}
sd_ps_exec() {
    local cg=/system.slice/$SD_P-c1.scope pid out
    out=$(sdrt ps c1) || return 1
    contains "ps" "$out" sleep || return 1
    sdrt exec -d --pid-file "$WORK/sd-exec.pid" c1 sleep 999 || return 1
    pid=$(cat "$WORK/sd-exec.pid")
    # the host's view of the exec'd process's cgroup: the unit's
    expect "exec'd process's cgroup" "$(cut -d: -f3 "/proc/$pid/cgroup")" "$cg"
}
sd_kill_all_delete() {
    local u=$SD_P-c1.scope
    sdrt kill --all c1 KILL || return 1
    retry 50 sh -c "\"$RUNTIME\" --root $SD_RT state c1 | grep -q '\"stopped\"'" || { echo "not stopped: $(sdrt state c1)"; return 1; }
    sdrt delete c1 || return 1
    retry 25 sd_no_unit "$u" && retry 25 test ! -e "/sys/fs/cgroup/system.slice/$u"
}
sd_slices() {
    local d=$WORK/sd2 cg
    node_bundle "$d" "machine.slice:$SD_P:m1" sleep 1000 || return 1
    sdrt run -d --bundle "$d" m1 </dev/null >/dev/null || return 1
    expect "Slice (machine.slice)" "$(sd_prop "$SD_P-m1.scope" Slice)" machine.slice &&
        test -d "/sys/fs/cgroup/machine.slice/$SD_P-m1.scope" || { echo "no cgroup under machine.slice"; return 1; }
    # a nested custom slice: bhsd-PID.slice lives in bhsd.slice
    node_bundle "$d" "bhsd-$$.slice:$SD_P:m2" sleep 1000 || return 1
    sdrt run -d --bundle "$d" m2 </dev/null >/dev/null || return 1
    cg=$(sd_prop "$SD_P-m2.scope" ControlGroup)
    expect "ControlGroup (custom slice)" "$cg" "/bhsd.slice/bhsd-$$.slice/$SD_P-m2.scope" || return 1
    sdrt delete -f m1 && sdrt delete -f m2 || return 1
    retry 25 sd_no_unit "$SD_P-m1.scope" && retry 25 sd_no_unit "$SD_P-m2.scope"
}
sd_failed_create() {
    local d=$WORK/sd3 out
    # the unit starts, then a resource write fails (a file the kernel does not have)
    node_bundle "$d" "system.slice:$SD_P:f1" sleep 1000 || return 1
    node_cfg "$d" 'c["linux"]["resources"] = {"unified": {"memory.bogus": "1"}}'
    if out=$(sdrt run -d --bundle "$d" f1 </dev/null 2>&1); then echo "run succeeded"; return 1; fi
    echo "refused: $out"
    # no executable: fails in the init, after the unit started
    node_bundle "$d" "system.slice:$SD_P:f2" /nonexistent || return 1
    if out=$(sdrt run --bundle "$d" f2 </dev/null 2>&1); then echo "run succeeded"; return 1; fi
    echo "refused: $out"
    sdrt delete -f f1 >/dev/null 2>&1; sdrt delete -f f2 >/dev/null 2>&1
    retry 25 sd_no_unit "$SD_P-f1.scope" && retry 25 sd_no_unit "$SD_P-f2.scope"
}
sd_leftover_failed_unit() {
    local d=$WORK/sd4 u=$SD_P-l1.scope
    # a scope of that name that ended failed (its RuntimeMaxSec ran out)
    systemd-run --quiet --scope --unit "$u" -p RuntimeMaxSec=1 sleep 30 >/dev/null 2>&1
    retry 25 sd_state_is "$u" failed || { echo "precondition: $u is $(sd_prop "$u" ActiveState), not failed"; return 1; }
    node_bundle "$d" "system.slice:$SD_P:l1" sh -c 'echo ran-ok' || return 1
    contains "run over a failed unit of the same name" "$(sdrt run --bundle "$d" l1 </dev/null 2>&1)" ran-ok || return 1
    sdrt delete -f l1 >/dev/null 2>&1
    retry 25 sd_no_unit "$u"
}
sd_unit_in_use() {
    local d=$WORK/sd5 out
    node_bundle "$d" "system.slice:$SD_P:busy" sleep 1000 || return 1
    sdrt run -d --bundle "$d" u1 </dev/null >/dev/null || return 1
    if out=$(sdrt run -d --bundle "$d" u2 </dev/null 2>&1); then echo "a second container got the same unit"; return 1; fi
    echo "refused: $out"
    expect "the first container" "$(sdrt state u1 | grep -o '"status": *"[a-z]*"' | tr -d ' ')" '"status":"running"' &&
        expect "the unit" "$(sd_prop "$SD_P-busy.scope" ActiveState)" active || return 1
    sdrt delete -f u1 && retry 25 sd_no_unit "$SD_P-busy.scope"
}
sd_concurrent() {
    local d=$WORK/sd6 i n
    node_bundle "$d" "bhsd-$$-par.slice:$SD_P:x" sleep 1000 || return 1
    for i in $(seq 1 20); do
        cp -r "$d" "$d-$i"
        node_cfg "$d-$i" "c['linux']['cgroupsPath'] = 'bhsd-$$-par.slice:$SD_P:p$i'"
    done
    for i in $(seq 1 20); do sdrt run -d --bundle "$d-$i" "p$i" </dev/null >"$WORK/sd-par-$i.out" 2>&1 & done
    wait
    n=$(systemctl list-units --plain --no-legend --state=active "$SD_P-p*.scope" | grep -c .)
    for i in $(seq 1 20); do sdrt delete -f "p$i" >/dev/null 2>&1; done
    expect "active scopes in bhsd-$$-par.slice" "$n" 20 || { cat "$WORK"/sd-par-*.out | sort | uniq -c | head -n 3; return 1; }
    for i in $(seq 1 20); do retry 25 sd_no_unit "$SD_P-p$i.scope" || return 1; done
}
sd_killed_create() {
    local d=$WORK/sd7 pid
    # a createRuntime hook that blocks: the create is killed while the init waits on it
    node_bundle "$d" "system.slice:$SD_P:k1" sleep 1000 || return 1
    node_cfg "$d" 'c["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo $$ >/run/bhsd-hook.pid; exec sleep 600"]}]}'
    # the runtime itself in the background (not the sdrt function: $! would be a subshell)
    "$RUNTIME" --systemd-cgroup --root "$SD_RT" create --bundle "$d" k1 </dev/null >/dev/null 2>&1 &
    pid=$!
    retry 100 sd_state_is "$SD_P-k1.scope" active || { echo "the unit never became active"; kill -9 "$pid"; return 1; }
    kill -9 "$pid"; wait "$pid" 2>/dev/null
    sdrt delete --force k1 >/dev/null 2>&1
    kill "$(cat /run/bhsd-hook.pid 2>/dev/null)" 2>/dev/null; rm -f /run/bhsd-hook.pid
    retry 50 sd_no_unit "$SD_P-k1.scope" || { systemctl kill -s KILL "$SD_P-k1.scope"; systemctl reset-failed "$SD_P-k1.scope"; return 1; }
}
sd_oom() {
    local d=$WORK/sd8 rc=0
    node_bundle "$d" "system.slice:$SD_P:o1" sh -c 'tail /dev/zero' || return 1
    node_cfg "$d" 'c["linux"]["resources"] = {"memory": {"limit": 16777216, "swap": 16777216}}'
    timeout 120 "$RUNTIME" --systemd-cgroup --root "$SD_RT" run --bundle "$d" o1 </dev/null >/dev/null 2>&1 || rc=$?
    expect "exit status (OOM killed)" "$rc" 137 || return 1
    sdrt delete -f o1 >/dev/null 2>&1
    retry 25 sd_no_unit "$SD_P-o1.scope"
}
sd_cleanup() {
    local u
    force_delete "$SD_RT"; rm -rf "$SD_RT"
    for u in $(systemctl list-units --all --plain --no-legend "$SD_P-*" | awk '{print $1}'); do
        systemctl stop "$u"; systemctl reset-failed "$u"
    done
    systemctl stop "bhsd-$$.slice" "bhsd-$$-par.slice" "bhsd.slice" 2>/dev/null
    return 0
}
client_systemd() {
    mkdir -p "$SD_RT"; on_exit sd_cleanup
    step "run: a scope in system.slice, limits in systemctl show and the files" sd_run_limits
    step "update: SetUnitProperties and the files" sd_update
    step "pause/resume" sd_pause_resume
    step "ps, exec joins the unit" sd_ps_exec
    step "kill --all, delete: no unit, no cgroup left" sd_kill_all_delete
    step "machine.slice and a nested custom slice" sd_slices
    step "failed creates leave no unit" sd_failed_create
    step "a left-over failed unit of the same name" sd_leftover_failed_unit
    step "a unit name in use is refused, the owner untouched" sd_unit_in_use
    step "20 concurrent creates into one slice" sd_concurrent
    step "a create killed half way, delete --force: no unit" sd_killed_create
    step "OOM kill, delete: no unit left (failed one reset)" sd_oom
    # what the steps above must not leave, whatever failed
    step "no unit of ours left" bash -c "l=\$(systemctl list-units --all --plain --no-legend '$SD_P-*'); [ -z \"\$l\" ] || { echo \"left: \$l\"; exit 1; }"
}

# ---- containerd (ctr, CRI), podman and docker with their systemd cgroup drivers ----------
# Their node flows (integration/clients/*.sh, node.sh) with the driver switched to systemd
# (SystemdCgroup = true, cgroup_manager = "systemd", native.cgroupdriver=systemd, ctr
# --runc-systemd-cgroup) and the cgroup parents slices of ours; the runtime then gets
# --systemd-cgroup and `slice:prefix:ID` paths. Definitions are restored afterwards.
sd_with_driver() { # CLIENT: run client_CLIENT with the systemd driver
    local defs f
    defs=$(declare -f pm podman_conf docker_conf in_cgroup ctr_run cri_config dk_oom)
    eval "$(declare -f pm | sed 's/--cgroup-manager cgroupfs/--cgroup-manager systemd/')"
    eval "$(declare -f podman_conf | sed 's/cgroup_manager = "cgroupfs"/cgroup_manager = "systemd"/')"
    eval "$(declare -f docker_conf | sed -e 's/native.cgroupdriver=cgroupfs/native.cgroupdriver=systemd/' -e 's|"cgroup-parent": "/bulkhead-it-docker"|"cgroup-parent": "bhsddk.slice"|')"
    eval "$(declare -f in_cgroup | sed '1s/in_cgroup/in_cgroup_fs/')"
    # ctr: runc's --systemd-cgroup through the shim option, `slice:prefix:name` paths
    ctr_run() { ctrc run --runc-binary "$RUNTIME" --runc-root "$CD/runc-root" --runc-systemd-cgroup --cgroup "bhsdctr.slice:bhsd:$1" "${@:2}"; }
    # CRI: SystemdCgroup = true; pods in a kubelet-style slice (containerd makes the paths)
    eval "$(declare -f cri_config | sed '1s/cri_config/cri_config_fs/')"
    cri_config() { cri_config_fs "$@" | sed 's/SystemdCgroup = false/SystemdCgroup = true/'; }
    local CRI_CG=bhsdcri-pod$$.slice
    # the flows' cgroup parents, as the slices' cgroups
    in_cgroup() {
        case "$3" in
            /bulkhead-it-docker) in_cgroup_fs "$1" "$2" /bhsddk.slice ;;
            /bulkhead-it-containerd) in_cgroup_fs "$1" "$2" /bhsdctr.slice ;;
            *.slice) in_cgroup_fs "$1" "$2" "/$3" ;;
            *) in_cgroup_fs "$@" ;;
        esac
    }
    # dockerd 28 with its systemd driver reports OOMKilled false for a container killed by
    # the OOM killer, with the node's runc 1.3.6 as with bulkhead (the exit code is 137):
    # the container must die with 137, OOMKilled is recorded, not required.
    dk_oom() {
        dk run --name oom --network none --memory 16m --memory-swap 16m "$IMG" sh -c 'x=$(head -c 64000000 /dev/zero | tr "\0" a); echo survived' >/dev/null 2>&1
        local st; st=$(dk inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' oom); dk rm -f oom >/dev/null
        case "$st" in "true 137") return 0 ;; "false 137") echo "exit 137; docker reports OOMKilled false under its systemd driver (runc too)"; return 77 ;; esac
        expect "OOMKilled, exit code" "$st" "true 137"
    }
    local PM_CG=bhsdpm.slice
    "client_$1"
    eval "$defs"
    for f in bhsdpm.slice bhsddk.slice bhsdctr.slice "bhsdcri-pod$$.slice" bhsdcri.slice; do systemctl stop "$f" 2>/dev/null; done
}
client_containerd-systemd() { sd_with_driver containerd; }
client_cri-systemd() { sd_with_driver cri; }
client_podman-systemd() { sd_with_driver podman; }
client_docker-systemd() { sd_with_driver docker; }
