# dockerd 20.10 with the runtime added in a private daemon.json ("runtimes",
# "default-runtime"), cgroupfs driver, its own data-root, exec-root, pidfile,
# unix socket and the containerd it starts itself under its exec-root.
# dockerd runs in a network namespace of our own (nsenter --net), so docker0,
# its iptables rules and the -p proxy stay out of the host namespace; the
# other steps use --network none. Sourced by run.sh.

docker_conf() {
    local d=$1
    cat <<CONF
{
  "data-root": "$d/data",
  "exec-root": "$d/exec",
  "pidfile": "$d/docker.pid",
  "hosts": ["unix://$d/docker.sock"],
  "runtimes": { "bulkhead": { "path": "$RUNTIME" } },
  "default-runtime": "bulkhead",
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "cgroup-parent": "/bulkhead-it-docker",
  "storage-driver": "overlay2",
  "ip6tables": false,
  "log-driver": "json-file"
}
CONF
}

DOCKER_BIN=/usr/bin/docker
dk() { DOCKER_CONFIG=$DD/cli "$DOCKER_BIN" -H "unix://$DD/docker.sock" "$@"; }
DK_LOOP='echo started; trap "exit 143" TERM; while true; do sleep 1; done'

dk_setup() {
    command -v dockerd >/dev/null || { echo "dockerd not installed (apt: docker.io)"; return 1; }
    [ -x "$DOCKER_BIN" ] || DOCKER_BIN=$(command -v docker)
    mkdir -p "$DD/cli"
    docker_conf "$DD" >"$DD/daemon.json"
    local ns=bhit-docker-$$
    make_netns "$ns" || return 1
    DD_NETNS=/run/netns/$ns
    # dockerd 20.10 writes /etc/docker/key.json: remove it at the end if it is ours.
    [ -e /etc/docker/key.json ] || on_exit 'rm -f /etc/docker/key.json'
    nsenter --net="$DD_NETNS" dockerd --config-file "$DD/daemon.json" >"$DD/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    on_exit "docker_cleanup $DOCKERD_PID"
    local i
    for ((i = 0; i < 300; i++)); do
        dk version >/dev/null 2>&1 && return 0
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "dockerd did not start: $(tail -n 3 "$DD/dockerd.log")"
    return 1
}
docker_cleanup() {
    local pid=$1
    local ids; ids=$(dk ps -a -q 2>/dev/null)
    [ -n "$ids" ] && timeout 60 "$DOCKER_BIN" -H "unix://$DD/docker.sock" rm -f $ids
    dk image prune -a -f >/dev/null 2>&1
    kill_pid "$pid"
    local r
    for r in "$DD"/exec/runtime-*/*; do [ -d "$r" ] && force_delete "$r"; done
    # its containerd and shims, if dockerd could not stop them
    local p
    for p in $(pgrep -f -- "$DD/exec/containerd" 2>/dev/null); do kill -KILL "$p"; done
    grep -F " $DD/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$DD"
}
dk_save_id() { dk inspect -f '{{.Id}}' "$1" >>"$DD/ids"; }
dk_load() { dk load -q -i "$IMAGES/busybox.tar" >/dev/null && dk image inspect "$IMG" >/dev/null; }
dk_run() { local out rc=0; out=$(dk run --rm --network none "$IMG" sh -c 'echo out-run; exit 7') || rc=$?; expect "exit code" "$rc" 7 && contains stdout "$out" out-run; }
dk_run_limits() {
    local out
    out=$(dk run --rm --network none --memory 32m --pids-limit 50 --user app --read-only --cap-drop all "$IMG" sh -c 'echo $(id -u) $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max) $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max); touch /x 2>/dev/null && echo rw || echo ro; grep CapEff /proc/self/status'  2>&1) || { echo "$out"; return 1; }
    contains "id, memory, pids" "$out" "1000 33554432 50" && contains "rootfs" "$out" ro && contains caps "$out" "CapEff:	0000000000000000"
}
dk_run_t() {
    local out
    out=$(DOCKER_CONFIG=$DD/cli script -qec "$DOCKER_BIN -H unix://$DD/docker.sock run --rm -t --network none $IMG sh -c 'tty; test -t 0 && echo is-a-tty'" /dev/null </dev/null)
    contains tty "$out" /dev/pts/ && contains tty "$out" is-a-tty
}
dk_run_d() {
    dk run -d --name d1 --network none "$IMG" sh -c "$DK_LOOP" >/dev/null && dk_save_id d1 &&
        expect "state, runtime" "$(dk inspect -f '{{.State.Status}} {{.HostConfig.Runtime}}' d1)" "running bulkhead" &&
        in_cgroup d1 "$(dk inspect -f '{{.State.Pid}}' d1)" /bulkhead-it-docker
}
dk_exec() { local out; out=$(dk exec d1 sh -c 'echo hi-from-exec' 2>&1) || { echo "$out"; return 1; }
    expect stdout "$out" hi-from-exec; }
dk_exec_rc() { local rc=0; dk exec d1 sh -c 'exit 5' || rc=$?; expect "exit code" "$rc" 5; }
dk_exec_user() { local out; out=$(dk exec --user app d1 id -u 2>&1) || { echo "$out"; return 1; }
    expect uid "$out" 1000; }
dk_exec_t() {
    local out
    out=$(DOCKER_CONFIG=$DD/cli script -qec "$DOCKER_BIN -H unix://$DD/docker.sock exec -t d1 sh -c 'tty; test -t 0 && echo is-a-tty'" /dev/null </dev/null)
    contains tty "$out" /dev/pts/ && contains tty "$out" is-a-tty
}
dk_exec_d() { dk exec -d d1 sh -c 'echo detached > /tmp/exec-d' && retry 25 dk exec d1 grep -q detached /tmp/exec-d; }
dk_top() { local out; out=$(dk top d1) && contains top "$out" "sleep"; }
dk_update() {
    dk update --memory 64m --memory-swap 128m d1 >/dev/null &&
        expect "memory limit" "$(dk exec d1 cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || dk exec d1 cat /sys/fs/cgroup/memory.max)" 67108864
}
dk_pause() { dk pause d1 >/dev/null && expect state "$(dk inspect -f '{{.State.Status}}' d1)" paused && dk unpause d1 >/dev/null && expect state "$(dk inspect -f '{{.State.Status}}' d1)" running; }
dk_stop() { dk stop -t 10 d1 >/dev/null && expect "state, exit code" "$(dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' d1)" "exited 143"; }
dk_start() { dk start d1 >/dev/null && expect state "$(dk inspect -f '{{.State.Status}}' d1)" running && dk exec d1 true; }
dk_restart() {
    local before; before=$(dk inspect -f '{{.State.Pid}}' d1)
    dk restart -t 10 d1 >/dev/null && expect state "$(dk inspect -f '{{.State.Status}}' d1)" running &&
        [ "$(dk inspect -f '{{.State.Pid}}' d1)" != "$before" ] || { echo "same pid after restart"; return 1; }
}
dk_logs() { local n; n=$(dk logs d1 | grep -c started); expect "'started' lines in the logs (three runs)" "$n" 3; }
dk_port() {
    dk run -d --name web -p 127.0.0.1:18081:80 "$IMG" httpd -f -p 80 -h /www >/dev/null && dk_save_id web || return 1
    local out i
    for ((i = 0; i < 25; i++)); do
        out=$(nsenter --net="$DD_NETNS" curl -sS -m 2 http://127.0.0.1:18081/ 2>&1) && break
        sleep 0.2
    done
    contains "GET http://127.0.0.1:18081/ in dockerd's netns" "$out" "hello from bulkhead-it httpd"
}
dk_stdin() { local out; out=$(echo piped-in | dk run -i --rm --network none "$IMG" cat 2>&1) || { echo "$out"; return 1; }; expect stdout "$out" piped-in; }
dk_exec_i() { local out; out=$(echo piped-exec | dk exec -i d1 cat 2>&1) || { echo "$out"; return 1; }; expect stdout "$out" piped-exec; }
dk_init_mounts() {
    mkdir -p "$DD/vol" && echo from-host >"$DD/vol/f"
    local out
    out=$(dk run --rm --network none --init -v "$DD/vol:/data" --tmpfs /scratch:size=1m "$IMG" \
        sh -c 'cat /data/f; echo w >/data/g; ps -o comm | sed -n 2p; grep " /scratch " /proc/mounts | cut -d" " -f3' 2>&1) || { echo "$out"; return 1; }
    expect "bind mount, --init (pid 1), tmpfs" "$(echo $out)" "from-host docker-init tmpfs" && [ -f "$DD/vol/g" ] || { echo "write to the bind mount not seen on the host"; return 1; }
}
dk_share_ns() {
    local out
    out=$(dk run --rm --pid container:d1 --network container:d1 "$IMG" sh -c 'cat /proc/1/cmdline | tr "\0" " "' 2>&1) || { echo "$out"; return 1; }
    contains "pid 1 seen with --pid container:d1" "$out" "trap"
}
dk_sysctl_device() {
    local out
    out=$(dk run --rm --network none --sysctl net.ipv4.ip_forward=1 --device /dev/null:/dev/xnull "$IMG" sh -c 'cat /proc/sys/net/ipv4/ip_forward; echo x >/dev/xnull && echo dev-ok' 2>&1) || { echo "$out"; return 1; }
    expect "sysctl, device" "$(echo $out)" "1 dev-ok"
}
dk_privileged() {
    local out
    if grep -q '^CapBnd:.*fffeffffff$' /proc/self/status; then
        echo "root's bounding set lacks CAP_SYS_RESOURCE: --privileged (all caps, --cap-drop ignored) fails for every runtime"
        return 77
    fi
    out=$(dk run --rm --network none --privileged "$IMG" sh -c 'grep CapEff /proc/self/status; grep Seccomp: /proc/self/status; ls /dev | wc -l; mount -t tmpfs t /tmp && echo mounted' 2>&1) || { echo "$out"; return 1; }
    contains caps "$out" "CapEff:	$(grep ^CapBnd: /proc/self/status | cut -f2)" && contains "no seccomp" "$out" "Seccomp:	0" && contains "mount(2) allowed" "$out" mounted
}
dk_cpu() {
    local out
    out=$(dk run --rm --network none --cpus 0.5 --cpuset-cpus 0 --cpu-shares 512 "$IMG" sh -c 'cd /sys/fs/cgroup; cat cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu/cpu.shares cpuset/cpuset.cpus 2>/dev/null || cat cpu.max cpu.weight cpuset.cpus' 2>&1) || { echo "$out"; return 1; }
    set -- $out
    expect "cfs quota, period, cpuset" "${1:-} ${2:-} ${4:-}" "50000 100000 0" || return 1
    # v1: cpu.shares 512. v2 has no shares: the weight derived from them (runc: 20; crun's
    # newer mapping gives another), not the default 100.
    [ "${3:-}" = 512 ] || { [ -f /sys/fs/cgroup/cgroup.controllers ] && [ -n "${3:-}" ] && [ "$3" != 100 ]; } ||
        { echo "cpu.shares (v1) or cpu.weight (v2): got '${3:-}'"; return 1; }
}
dk_signal() {
    dk run -d --name sig --network none "$IMG" sh -c 'trap "echo got-usr1" USR1; echo ready; while true; do sleep 0.2; done' >/dev/null || return 1
    retry 25 sh -c "DOCKER_CONFIG=$DD/cli $DOCKER_BIN -H unix://$DD/docker.sock logs sig | grep -q ready"
    dk kill -s USR1 sig >/dev/null
    local i ok=1
    for ((i = 0; i < 25; i++)); do dk logs sig | grep -q got-usr1 && { ok=0; break; }; sleep 0.2; done
    dk rm -f sig >/dev/null
    [ "$ok" = 0 ] || { echo "USR1 not delivered"; return 1; }
}
dk_oom() {
    local rc=0
    dk run --name oom --network none --memory 16m --memory-swap 16m "$IMG" sh -c 'x=$(head -c 64000000 /dev/zero | tr "\0" a); echo survived' >/dev/null 2>&1 || rc=$?
    local st; st=$(dk inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' oom); dk rm -f oom >/dev/null
    expect "OOMKilled, exit code" "$st" "true 137"
}
dk_restart_policy() {
    dk run -d --name rp --network none --restart on-failure:2 "$IMG" sh -c 'echo run; exit 3' >/dev/null || return 1
    local i st
    for ((i = 0; i < 50; i++)); do
        st=$(dk inspect -f '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}' rp)
        [ "$st" = "exited 2 3" ] && break
        sleep 0.2
    done
    dk rm -f rp >/dev/null
    expect "status, restarts, exit code" "$st" "exited 2 3"
}
dk_rm() { dk rm -f d1 web >/dev/null && expect "containers left" "$(dk ps -a -q)" ""; }
dk_root_empty() {
    local left="" id
    for id in $(sort -u "$DD/ids"); do
        [ -n "$(find "$DD/exec" -path "*/runtime-*" -name "$id" 2>/dev/null)" ] && left+=" $id"
    done
    expect "containers left in the runtime root ($DD/exec/runtime-bulkhead)" "$left" ""
}

client_docker() {
    DD=$WORK/docker
    mkdir -p "$DD"
    if dk_setup >"$WORK/step.out" 2>&1; then ok "start dockerd (daemon.json, own netns)"; else
        notok "start dockerd (daemon.json, own netns)" "$(tail -n1 "$WORK/step.out")"; return; fi
    step "load (docker-archive)" dk_load
    step "run, exit code" dk_run
    step "run --memory --pids-limit --user --read-only --cap-drop all" dk_run_limits
    step "run -t" dk_run_t
    step "run -d" dk_run_d
    step "exec" dk_exec
    step "exec exit code" dk_exec_rc
    step "exec --user app" dk_exec_user
    step "exec -t" dk_exec_t
    step "exec -d" dk_exec_d
    step "exec -i (stdin)" dk_exec_i
    step "run -i (stdin)" dk_stdin
    step "run --init -v --tmpfs" dk_init_mounts
    step "run --pid/--network container:" dk_share_ns
    step "run --sysctl --device" dk_sysctl_device
    step "run --privileged" dk_privileged
    step "run --cpus --cpuset-cpus --cpu-shares" dk_cpu
    step "kill -s USR1" dk_signal
    step "OOM kill (--memory 16m)" dk_oom
    step "--restart on-failure:2" dk_restart_policy
    step "top" dk_top
    step "update --memory" dk_update
    step "pause/unpause" dk_pause
    step "stop" dk_stop
    step "start again" dk_start
    step "restart" dk_restart
    step "logs" dk_logs
    step "run -p, GET the published port" dk_port
    step "rm" dk_rm
    step "nothing left in the runtime root" dk_root_empty
}
