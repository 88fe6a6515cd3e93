# containerd 1.6 driven by ctr, shim io.containerd.runc.v2 with --runc-binary.
# Private containerd: own config, root, state, socket, ctr namespace, runc root
# and cgroup parent. Sourced by run.sh.

# containerd_start DIR WITH_CRI: write DIR/config.toml and start containerd.
containerd_start() {
    local d=$1 cri=$2
    mkdir -p "$d/root" "$d/state" "$d/opt" "$d/cni/bin" "$d/cni/conf" "$d/runtime-root" "$d/runc-root"
    {
        cat <<CONF
version = 2
root = "$d/root"
state = "$d/state"
CONF
        [ "$cri" = 1 ] || echo 'disabled_plugins = ["io.containerd.grpc.v1.cri"]'
        cat <<CONF
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
CONF
        [ "$cri" = 1 ] && cri_config "$d"
    } >"$d/config.toml"
    containerd --config "$d/config.toml" --log-level debug >"$d/containerd.log" 2>&1 &
    CONTAINERD_PID=$!
    on_exit "containerd_stop $d $CONTAINERD_PID"
    wait_sock "$d/containerd.sock" 20 || { echo "containerd did not start: $(tail -n3 "$d/containerd.log")"; return 1; }
    ctr --address "$d/containerd.sock" version >/dev/null
}

# containerd_stop DIR PID: kill leftover tasks (their shims), stop containerd, unmount, remove.
containerd_stop() {
    local d=$1 pid=$2 ns c
    for ns in $(ctr --address "$d/containerd.sock" namespaces ls -q 2>/dev/null); do
        for c in $(ctr --address "$d/containerd.sock" -n "$ns" task ls -q 2>/dev/null); do
            timeout 10 ctr --address "$d/containerd.sock" -n "$ns" task kill -a -s KILL "$c"
            sleep 0.3
            timeout 10 ctr --address "$d/containerd.sock" -n "$ns" task delete -f "$c"
        done
        for c in $(ctr --address "$d/containerd.sock" -n "$ns" containers ls -q 2>/dev/null); do
            timeout 10 ctr --address "$d/containerd.sock" -n "$ns" containers delete "$c"
        done
    done
    kill_pid "$pid"
    local r
    for r in "$d"/runc-root/* "$d"/runtime-root/*; do [ -d "$r" ] && force_delete "$r"; done
    # shims of tasks that could not be deleted
    local p
    for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $d/containerd.sock" 2>/dev/null); do kill -KILL "$p"; done
    grep -F " $d/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$d"
}

CTR_NS=bulkhead-it
ctrc() { ctr --address "$CD/containerd.sock" -n "$CTR_NS" "$@"; }
ctr_run() { ctrc run --runc-binary "$RUNTIME" --runc-root "$CD/runc-root" --cgroup "/bulkhead-it-containerd/$1" "${@:2}"; }
IMG=localhost/bulkhead-it/busybox:latest
LOOP='trap "exit 143" TERM; while true; do sleep 1; done'

task_status() { ctrc task ls | awk -v c="$1" '$1 == c {print $3}'; }
wait_status() { local i; for ((i = 0; i < 50; i++)); do [ "$(task_status "$1")" = "$2" ] && return 0; sleep 0.2; done; echo "task $1 status $(task_status "$1"), want $2"; return 1; }

cd_import() { ctrc image import --all-platforms "$IMAGES/busybox.tar" && ctrc image ls -q | grep -qx "$IMG"; }
cd_run_fg() {
    local out rc=0
    out=$(ctr_run fg --rm "$IMG" fg sh -c 'echo out-fg; exit 7') || rc=$?
    expect "exit code" "$rc" 7 && contains stdout "$out" out-fg
}
cd_run_t() {
    local out
    out=$(script -qec "ctr --address $CD/containerd.sock -n $CTR_NS run -t --rm --runc-binary $RUNTIME --runc-root $CD/runc-root --cgroup /bulkhead-it-containerd/tty $IMG tty sh -c 'tty; test -t 0 && echo is-a-tty'" /dev/null </dev/null)
    contains tty "$out" /dev/pts/ && contains tty "$out" is-a-tty
}
cd_run_detached() {
    ctr_run c1 -d "$IMG" c1 sh -c "$LOOP" && wait_status c1 RUNNING &&
        [ -d "$CD/runc-root/$CTR_NS/c1" ] || { echo "c1 not in the runtime root $CD/runc-root/$CTR_NS"; return 1; }
    in_cgroup c1 "$(ctrc task ls | awk '$1 == "c1" {print $2}')" /bulkhead-it-containerd
}
cd_exec() { local out; out=$(ctrc task exec --exec-id e1 c1 sh -c 'echo hi-from-exec; cat /proc/1/cmdline') && contains stdout "$out" hi-from-exec; }
cd_exec_rc() { local rc=0; ctrc task exec --exec-id e2 c1 sh -c 'exit 5' || rc=$?; expect "exit code" "$rc" 5; }
cd_exec_tty() {
    local out
    out=$(script -qec "ctr --address $CD/containerd.sock -n $CTR_NS task exec -t --exec-id e3 c1 sh -c 'tty; test -t 0 && echo is-a-tty'" /dev/null </dev/null)
    contains "tty" "$out" /dev/pts/ && contains "tty" "$out" is-a-tty
}
cd_exec_cwd() { local out; out=$(ctrc task exec --cwd /tmp --exec-id e6 c1 pwd 2>&1) || { echo "$out"; return 1; }
    expect "cwd" "$out" "/tmp"; }
cd_exec_user() { local out; out=$(ctrc task exec --user 1000 --exec-id e4 c1 id -u) && expect "uid" "$(tr -d '\r' <<<"$out")" 1000; }
cd_ps() {
    local out n
    out=$(ctrc task ps c1)
    n=$(awk 'NR > 1 && $1 ~ /^[0-9]+$/' <<<"$out" | wc -l)
    [ "$n" -ge 1 ] || { echo "ctr task ps: no pids: $out"; return 1; }
}
cd_pause_resume() {
    ctrc task pause c1 && wait_status c1 PAUSED && ctrc task resume c1 && wait_status c1 RUNNING &&
        ctrc task exec --exec-id e5 c1 true
}
cd_kill_term() { ctrc task kill -s TERM c1 && wait_status c1 STOPPED; }
cd_kill_all() {
    ctr_run c2 -d "$IMG" c2 sh -c 'sleep 1000 & sleep 1000 & wait' && wait_status c2 RUNNING &&
        ctrc task kill --all -s KILL c2 && wait_status c2 STOPPED
}
cd_delete() {
    ctrc task delete c1 c2 && ctrc containers delete c1 c2 &&
        expect "tasks left" "$(ctrc task ls -q)" "" && expect "containers left" "$(ctrc containers ls -q)" ""
}
cd_root_empty() {
    local left
    # (crun keeps a `.empty-directory` file of its own in every state root: not a container)
    left=$(find "$CD/runc-root" -mindepth 1 -not -name .empty-directory 2>/dev/null | grep -v "^$CD/runc-root/$CTR_NS\$" || true)
    expect "left in the runtime root" "$left" ""
}

client_containerd() {
    CD=$WORK/containerd
    # in this shell, not a step's subshell: it registers its own cleanup
    if containerd_start "$CD" 0 >"$WORK/step.out" 2>&1; then ok "start containerd"; else
        notok "start containerd" "$(tail -n1 "$WORK/step.out")"; return; fi
    step "image import (docker-archive)" cd_import
    step "run foreground, exit code" cd_run_fg
    step "run -t (tty)" cd_run_t
    step "run detached" cd_run_detached
    step "exec" cd_exec
    step "exec exit code" cd_exec_rc
    step "exec -t (tty)" cd_exec_tty
    step "exec --user 1000" cd_exec_user
    step "exec --cwd" cd_exec_cwd
    step "task ps" cd_ps
    step "pause/resume" cd_pause_resume
    step "kill TERM" cd_kill_term
    step "kill --all KILL" cd_kill_all
    step "delete" cd_delete
    step "nothing left in the runtime root" cd_root_empty
}
