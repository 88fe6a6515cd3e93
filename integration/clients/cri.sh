# containerd 1.6's CRI plugin (the Kubernetes path) with a runtime handler
# `bulkhead` (runtime_type io.containerd.runc.v2, options BinaryName = $RUNTIME),
# driven by cri/cri_client.py over the CRI v1 gRPC API. Pods use the host
# network (no CNI needed). Sourced by run.sh; uses containerd.sh.

# cri_config DIR: the CRI section of containerd's config.toml (see README.md).
cri_config() {
    local d=$1
    cat <<CONF
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/bulkhead-it/pause:latest"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    # Declaring any runtime replaces the default map: declare runc too.
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc || echo /usr/sbin/runc)"
        Root = "$d/runc-root"
        SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.bulkhead]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.bulkhead.options]
        BinaryName = "$RUNTIME"
        Root = "$d/runtime-root"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$d/cni/bin"
    conf_dir = "$d/cni/conf"
CONF
}

cri_python() {
    local p
    for p in /usr/bin/python3 python3; do
        "$p" -c 'import grpc, grpc_tools' 2>/dev/null && { command -v "$p"; return; }
    done
    return 1
}
cric() { CRI_LOG_DIR=$CD/podlogs timeout 90 "$CRI_PY" "$HERE/cri/cri_client.py" --sock "$CD/containerd.sock" --gen "$WORK/cri-gen" "$@"; }
CRI_CG=/bulkhead-it-cri
CRI_LOOP='echo started; trap "exit 143" TERM; while true; do sleep 1; done' 

cri_import() {
    ctr --address "$CD/containerd.sock" -n k8s.io image import "$IMAGES/busybox.tar" &&
        ctr --address "$CD/containerd.sock" -n k8s.io image import "$IMAGES/pause.tar"
}
cri_version() { local out; out=$(cric version) && contains version "$out" containerd; }
cri_runp() {
    local out st
    out=$(cric runp bhpod bulkhead "$CRI_CG") || return 1
    echo "$out" >"$WORK/cri.pod"
    st=$(cric podstatus "$out") && expect "pod status" "$st" "READY bulkhead" &&
        [ -n "$(ls "$CD/runtime-root/k8s.io/" 2>/dev/null)" ] || { echo "sandbox not in the bulkhead handler's root $CD/runtime-root"; return 1; }
}
cri_create() {
    local out
    out=$(cric create "$(cat "$WORK/cri.pod"):bhpod" c1 "$IMG" "$CRI_CG" sh -c "$CRI_LOOP") || return 1
    echo "$out" >"$WORK/cri.ctr"
    expect status "$(cric status "$out")" "CREATED 0"
}
cri_start() {
    local c; c=$(cat "$WORK/cri.ctr")
    cric start "$c" && expect status "$(cric status "$c")" "RUNNING 0" &&
        [ -d "$CD/runtime-root/k8s.io/$c" ] || { echo "container not in the bulkhead handler's root"; return 1; }
}
cri_exec() { local out; out=$(cric exec "$(cat "$WORK/cri.ctr")" 20 sh -c 'echo hi-from-cri-exec $BULKHEAD_IT') && expect stdout "$out" "hi-from-cri-exec 1"; }
cri_shared_pid() { local out; out=$(cric exec "$(cat "$WORK/cri.ctr")" 20 ps -o comm 2>&1) || { echo "$out"; return 1; }; contains "the sandbox's sleep seen from the container (pid=POD)" "$out" sleep; }
cri_logs() { local f; f=$CD/podlogs/c1.log; [ -f "$f" ] || { echo "no $f"; return 1; }; contains "container log (CRI format)" "$(cat "$f")" "stdout F started"; }
cri_exec_rc() { local rc=0; cric exec "$(cat "$WORK/cri.ctr")" 20 sh -c 'exit 3' || rc=$?; expect "exit code" "$rc" 3; }
cri_stop() { local c; c=$(cat "$WORK/cri.ctr"); cric stop "$c" 10 && expect status "$(cric status "$c")" "EXITED 143"; }
cri_rm() { cric rm "$(cat "$WORK/cri.ctr")"; }
cri_stopp() { local p; p=$(cat "$WORK/cri.pod"); cric stopp "$p" && expect "pod status" "$(cric podstatus "$p")" "NOTREADY bulkhead"; }
cri_rmp() { cric rmp "$(cat "$WORK/cri.pod")"; }
cri_root_empty() {
    local left
    # (crun keeps a `.empty-directory` file of its own in every state root: not a container)
    left=$(find "$CD/runtime-root" -mindepth 1 -not -name .empty-directory 2>/dev/null | grep -v "^$CD/runtime-root/k8s.io\$" || true)
    expect "left in the runtime root" "$left" ""
}

client_cri() {
    CD=$WORK/cri
    mkdir -p "$WORK/cri/podlogs"
    CRI_PY=$(cri_python) || { skip "CRI flow" "no python3 with grpcio and grpcio-tools (apt: python3-grpcio python3-grpc-tools)"; return; }
    if containerd_start "$CD" 1 >"$WORK/step.out" 2>&1; then ok "start containerd with CRI"; else
        notok "start containerd with CRI" "$(tail -n1 "$WORK/step.out")"; return; fi
    step "image import (busybox, pause)" cri_import
    step "Version" cri_version
    step "RunPodSandbox (handler bulkhead)" cri_runp
    [ -s "$WORK/cri.pod" ] || return
    step "CreateContainer" cri_create
    step "StartContainer" cri_start
    step "ExecSync" cri_exec
    step "ExecSync exit code" cri_exec_rc
    step "shared pid namespace (pid=POD)" cri_shared_pid
    step "container log file" cri_logs
    step "StopContainer" cri_stop
    step "RemoveContainer" cri_rm
    step "StopPodSandbox" cri_stopp
    step "RemovePodSandbox" cri_rmp
    step "nothing left in the runtime root" cri_root_empty
}
