# podman 4.3 with the runtime declared in a private containers.conf
# ([engine.runtimes] bulkhead = [$RUNTIME], listed in runtime_supports_json so
# podman passes --log/--log-format json), cgroupfs, file events, private
# --root/--runroot/--tmpdir/network config. Every podman command runs in a
# network namespace of our own (nsenter --net), so netavark's bridge and
# firewall rules for the -p step stay out of the host namespace.
# Sourced by run.sh.

podman_conf() {
    local d=$1
    cat <<CONF
[containers]
# Root without CAP_SYS_RESOURCE cannot raise rlimits above its hard limits
# (podman's default is nofile=nproc=1048576): stay within the hard limits the
# runtime is started with (podman itself lowers nproc to 32768 here).
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$(lim=$(ulimit -Hu); [ "$lim" = unlimited ] || [ "$lim" -gt 32768 ] && lim=32768; echo $lim:$lim)"]
cgroups = "enabled"

[engine]
runtime = "bulkhead"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$d/events.log"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "bulkhead"]

[engine.runtimes]
bulkhead = ["$RUNTIME"]

[network]
network_backend = "netavark"
network_config_dir = "$d/networks"
CONF
}

pm() {
    CONTAINERS_CONF=$PD/containers.conf nsenter --net="$PD_NETNS" \
        podman --root "$PD/root" --runroot "$PD_RUNROOT" --tmpdir "$PD/tmp" --storage-driver overlay \
        --cgroup-manager cgroupfs --events-backend file --runtime bulkhead "$@"
}
PM_CG=/bulkhead-it-podman
PM_LOOP='echo started; trap "exit 143" TERM; while true; do sleep 1; done'

pm_setup() {
    # podman refuses a runroot longer than 50 characters: a short one in /run
    PD_RUNROOT=$(mktemp -d /run/bhit-podman.XXXXXX) || return 1
    on_exit "rm -rf $PD_RUNROOT"
    # podman's lock segment is /dev/shm/libpod_lock whatever the root: remove it if ours
    [ -e /dev/shm/libpod_lock ] || on_exit 'ps -C podman,conmon -o stat= | grep -qv "^Z" || rm -f /dev/shm/libpod_lock'
    mkdir -p "$PD/networks" "$PD/tmp" "$PD/runtime-root"
    podman_conf "$PD" >"$PD/containers.conf"
    local ns=bhit-podman-$$
    make_netns "$ns" || return 1
    PD_NETNS=/run/netns/$ns
    on_exit "podman_cleanup"
}
podman_cleanup() {
    local ids; ids=$( (pm ps -a -q --no-trunc; cat "$PD/ids") 2>/dev/null | sort -u)
    pm rm -a -f -t 0
    # backstop: what podman could not remove (an interrupted run), and its conmon
    force_delete "" $ids
    local f p
    for f in "$PD_RUNROOT"/overlay-containers/*/userdata/conmon.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f"); grep -qs conmon "/proc/$p/comm" && kill -KILL "$p"
    done
    # podman's cleanup processes (conmon's exit command) finish asynchronously
    local i
    for ((i = 0; i < 50; i++)); do pgrep -f -- "$PD_RUNROOT" >/dev/null || break; sleep 0.1; done
    pm system prune -a -f >/dev/null
    grep -F -e " $PD/" -e " $PD_RUNROOT/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$PD"
}
pm_load() { pm load -q -i "$IMAGES/busybox.tar" && pm image exists "$IMG"; }
pm_run() { local out rc=0; out=$(pm run --rm --network none --cgroup-parent "$PM_CG" "$IMG" sh -c 'echo out-run; exit 7') || rc=$?; expect "exit code" "$rc" 7 && contains stdout "$out" out-run; }
pm_run_limits() {
    local out
    out=$(pm run --rm --network none --cgroup-parent "$PM_CG" --memory 32m --pids-limit 50 --user app --read-only --cap-drop all "$IMG" sh -c 'echo $(id -u) $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max) $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max); touch /x 2>/dev/null && echo rw || echo ro; grep CapEff /proc/self/status'  2>&1) || { echo "$out"; return 1; }
    contains "id, memory, pids" "$out" "1000 33554432 50" && contains "rootfs" "$out" ro && contains caps "$out" "CapEff:	0000000000000000"
}
pm_run_t() {
    local out
    out=$(CONTAINERS_CONF=$PD/containers.conf script -qec "nsenter --net=$PD_NETNS podman --root $PD/root --runroot $PD_RUNROOT --tmpdir $PD/tmp --storage-driver overlay --runtime bulkhead run --rm -t --network none --cgroup-parent $PM_CG $IMG sh -c 'tty; test -t 0 && echo is-a-tty'" /dev/null </dev/null)
    contains tty "$out" /dev/pts/ && contains tty "$out" is-a-tty
}
pm_run_d() {
    pm run -d --name p1 --network none --cgroup-parent "$PM_CG" "$IMG" sh -c "$PM_LOOP" >/dev/null && pm_save_id p1 &&
        expect "state, runtime" "$(pm inspect -f '{{.State.Status}} {{.OCIRuntime}}' p1)" "running bulkhead" &&
        in_cgroup p1 "$(pm inspect -f '{{.State.Pid}}' p1)" "$PM_CG"
}
pm_exec_t() {
    local out
    out=$(CONTAINERS_CONF=$PD/containers.conf script -qec "nsenter --net=$PD_NETNS podman --root $PD/root --runroot $PD_RUNROOT --tmpdir $PD/tmp --storage-driver overlay --runtime bulkhead exec -t p1 sh -c 'tty; test -t 0 && echo is-a-tty'" /dev/null </dev/null)
    contains tty "$out" /dev/pts/ && contains tty "$out" is-a-tty
}
pm_exec() { local out; out=$(pm exec p1 sh -c 'echo hi-from-exec' 2>&1) || { echo "$out"; return 1; }
    expect stdout "$out" hi-from-exec; }
pm_exec_rc() { local rc=0; pm exec p1 sh -c 'exit 5' || rc=$?; expect "exit code" "$rc" 5; }
pm_exec_user() { local out; out=$(pm exec --user app p1 id -u 2>&1) || { echo "$out"; return 1; }
    expect uid "$out" 1000; }
pm_exec_d() { pm exec -d p1 sh -c 'echo detached > /tmp/exec-d' >/dev/null && retry 25 pm exec p1 grep -q detached /tmp/exec-d; }
pm_top() { local out; out=$(pm top p1) && contains top "$out" "sleep"; }
pm_update() {
    pm update --help >/dev/null 2>&1 || { echo "podman $(podman version -f '{{.Client.Version}}') has no update command"; return 77; }
    pm update --memory 64m p1 &&
        expect "memory limit" "$(pm exec p1 cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || pm exec p1 cat /sys/fs/cgroup/memory.max)" 67108864
}
pm_pause() { pm pause p1 && expect state "$(pm inspect -f '{{.State.Status}}' p1)" paused && pm unpause p1 && expect state "$(pm inspect -f '{{.State.Status}}' p1)" running; }
pm_stop() { pm stop -t 10 p1 >/dev/null && expect "state, exit code" "$(pm inspect -f '{{.State.Status}} {{.State.ExitCode}}' p1)" "exited 143"; }
pm_start() { pm start p1 >/dev/null && expect state "$(pm inspect -f '{{.State.Status}}' p1)" running && pm exec p1 true; }
pm_logs() { local n; n=$(pm logs p1 | grep -c started); expect "'started' lines in the logs (two runs)" "$n" 2; }
pm_port() {
    pm run -d --name web --network bridge -p 127.0.0.1:18080:80 --cgroup-parent "$PM_CG" "$IMG" httpd -f -p 80 -h /www >/dev/null && pm_save_id web || return 1
    local out i
    for ((i = 0; i < 25; i++)); do
        out=$(nsenter --net="$PD_NETNS" curl -sS -m 2 http://127.0.0.1:18080/ 2>&1) && break
        sleep 0.2
    done
    contains "GET http://127.0.0.1:18080/ in the test's netns" "$out" "hello from bulkhead-it httpd"
}
pm_pod() { pm load -q -i "$IMAGES/pause.tar" >/dev/null && pod_check pm --cgroup-parent "$PM_CG"; }
# pod_check PODMAN [POD-CREATE-ARGS...]: a pod whose infra is the local pause image, a
# container in it sees the infra's sleep (shared pid ns), then the pod is removed.
# PODMAN: pm (rootful) or rpm (rootless).
pod_check() {
    local p=$1; shift
    "$p" pod create --name bhpod --network none --share pid,ipc,uts "$@" \
        --infra-image localhost/bulkhead-it/pause:latest --infra-command "sleep 2147483647" >/dev/null &&
        "$p" run -d --pod bhpod --name inpod "$IMG" sh -c "$PM_LOOP" >/dev/null || return 1
    local out
    out=$("$p" exec inpod ps -o comm 2>&1) || { echo "$out"; return 1; }
    contains "the infra's sleep seen from a container of the pod (shared pid ns)" "$out" sleep || return 1
    "$p" pod stop -t 2 bhpod >/dev/null && "$p" pod rm -f bhpod >/dev/null
}
pm_userns() {
    local out
    out=$(pm run --rm --network none --cgroup-parent "$PM_CG" --uidmap 0:200000:65536 --gidmap 0:200000:65536 "$IMG" \
        sh -c 'cat /proc/self/uid_map; touch /tmp/x && stat -c %u /tmp/x' 2>&1) || { echo "$out"; return 1; }
    expect "uid_map, file owner" "$(echo $out)" "0 200000 65536 0"
}
pm_rm() { pm rm -f -t 2 p1 web >/dev/null && expect "containers left" "$(pm ps -a -q)" ""; }
# podman passes no --root to the runtime (and no --runtime-flag to its
# cleanup process): the containers' state is in the runtime's default root.
pm_save_id() { pm inspect -f '{{.Id}}' "$1" >>"$PD/ids"; }
pm_root_empty() {
    local ids left="" id
    ids=$("$RUNTIME" list -q 2>/dev/null || ls "/run/$(basename "$RUNTIME")")
    for id in $(sort -u "$PD/ids"); do grep -qx "$id" <<<"$ids" && left+=" $id"; done
    expect "containers left in the runtime's root" "$left" ""
}

client_podman() {
    PD=$WORK/podman
    mkdir -p "$PD"
    if pm_setup >"$WORK/step.out" 2>&1; then ok "setup (containers.conf, netns)"; else
        notok "setup (containers.conf, netns)" "$(tail -n1 "$WORK/step.out")"; return; fi
    step "load (docker-archive)" pm_load
    step "run, exit code" pm_run
    step "run --memory --pids-limit --user --read-only --cap-drop all" pm_run_limits
    step "run -t" pm_run_t
    step "run -d" pm_run_d
    step "exec" pm_exec
    step "exec exit code" pm_exec_rc
    step "exec --user app" pm_exec_user
    step "exec -t" pm_exec_t
    step "exec -d" pm_exec_d
    step "top" pm_top
    step "update --memory" pm_update
    step "pause/unpause" pm_pause
    step "stop" pm_stop
    step "start again" pm_start
    step "logs" pm_logs
    step "pod (infra container, shared pid/ipc/uts)" pm_pod
    step "run --uidmap/--gidmap (user namespace)" pm_userns
    step "run --network bridge -p, GET the published port" pm_port
    step "rm" pm_rm
    step "nothing left in the runtime root" pm_root_empty
}
