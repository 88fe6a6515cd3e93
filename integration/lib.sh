# Common helpers for integration/run.sh: step accounting, timeouts, the local
# busybox images, cleanup registration. Sourced, not run.
# Output: one line per step, `ok <step>`, `not ok <step>: <reason>`, `skip <step>: <reason>`.

PASS=0 FAIL=0 SKIP=0
STEP_TIMEOUT=${STEP_TIMEOUT:-60}
CLEANUPS=()

log() { echo "# $*" >&2; }

# on_exit CMD...: run CMD (a string, eval'd) at exit, last registered first.
on_exit() { CLEANUPS+=("$1"); }
run_cleanups() {
    local i
    for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${CLEANUPS[$i]}" >>"$WORK/cleanup.log" 2>&1 || true
    done
    CLEANUPS=()
}

# kill_tree PID: TERM a step's subshell and its descendants, KILL after 2 s
kill_tree() {
    local pid=$1 pids c i
    pids=$pid
    for ((i = 0; i < 5; i++)); do
        for c in $pids; do pids+=" $(pgrep -P "$c" | tr '\n' ' ')"; done
    done
    pids=$(tr ' ' '\n' <<<"$pids" | sort -u | tr '\n' ' ')
    kill -TERM $pids 2>/dev/null
    for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL $pids 2>/dev/null
    return 0
}

ok() { PASS=$((PASS + 1)); echo "ok $CLIENT: $1"; }
notok() { FAIL=$((FAIL + 1)); echo "not ok $CLIENT: $1: $2"; }
skip() { SKIP=$((SKIP + 1)); echo "skip $CLIENT: $1: $2"; }

# step NAME CMD...: run CMD (a shell function or command) with a time bound;
# its output goes to $WORK/<client>.log; the reason shown on failure is the
# last line it wrote to stderr/stdout (or the timeout).
step() {
    local name=$1; shift
    local out=$WORK/step.out rc
    mkdir -p "$WORK"
    {
        echo "=== $CLIENT: $name"
    } >>"$WORK/$CLIENT.log"
    # Functions run in a subshell so a failing `set -e` inside stays local;
    # a background watchdog bounds the time.
    ( "$@" ) >"$out" 2>&1 &
    local pid=$!
    STEP_PID=$pid
    # The watchdog reaps its own sleep when told to stop (no orphans left behind).
    ( sp=; trap 'kill $sp 2>/dev/null; wait $sp 2>/dev/null; exit 0' TERM
      sleep "$STEP_TIMEOUT" & sp=$!; wait $sp
      kill_tree "$pid" ) >/dev/null 2>&1 &
    local dog=$!
    DOG_PID=$dog
    wait "$pid"; rc=$?
    STEP_PID=
    kill "$dog" 2>/dev/null; wait "$dog" 2>/dev/null
    cat "$out" >>"$WORK/$CLIENT.log"
    if [ "$rc" = 0 ]; then
        ok "$name"
    elif [ "$rc" = 77 ]; then
        skip "$name" "$(tail -n1 "$out")"
    elif [ "$rc" -ge 128 ] && ! [ -s "$out" ] || [ "$rc" = 143 ]; then
        notok "$name" "timed out after ${STEP_TIMEOUT}s $(tail -n1 "$out" | cut -c1-200)"
    else
        notok "$name" "$(grep -v '^[[:space:]]*$' "$out" | head -n 4 | tr '\n' ' ' | cut -c1-300)"
    fi
    return 0
}

# expect WHAT GOT WANT: fail with a message unless equal
expect() { if [ "$2" != "$3" ]; then echo "$1: got '$2', want '$3'"; return 1; fi; }
# contains WHAT HAYSTACK NEEDLE
contains() { if ! grep -qF -- "$3" <<<"$2"; then echo "$1: '$3' not in: $(tr '\n' ' ' <<<"$2" | cut -c1-200)"; return 1; fi; }
# retry N CMD...: up to N tries, 0.2s apart
retry() { local n=$1 i; shift; for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.2; done; "$@"; }

# in_cgroup WHAT PID PARENT: the process's memory cgroup (v1) or unified path is under PARENT
in_cgroup() {
    local cg
    cg=$(grep -E '^[0-9]+:(memory|):' "/proc/$2/cgroup" | head -n1 | cut -d: -f3)
    case "$cg" in "$3"/*) return 0 ;; esac
    echo "$1: pid $2 in cgroup '$cg', not under $3"
    return 1
}

# wait_sock PATH SECONDS
wait_sock() { local i; for ((i = 0; i < $2 * 10; i++)); do [ -S "$1" ] && return 0; sleep 0.1; done; return 1; }

# kill_pidfile FILE: TERM then KILL the daemon whose pid is in FILE
kill_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

# force_delete ROOT [ID...]: backstop after a client's own cleanup (e.g. when a
# run was interrupted): `$RUNTIME --root ROOT delete --force` every container
# left in ROOT (only the IDs given, when given; ROOT "" = the runtime's default).
force_delete() {
    local root=$1 id ids; shift
    local rt=("$RUNTIME"); [ -n "$root" ] && rt+=(--root "$root")
    if [ $# -gt 0 ]; then ids="$*"; else ids=$(ls "$root" 2>/dev/null); fi
    for id in $ids; do
        "${rt[@]}" state "$id" >/dev/null 2>&1 || continue
        echo "force_delete: $id left in ${root:-the default root}"
        "${rt[@]}" delete --force "$id"
    done
}

# rmdir_cgroup PATH: remove a cgroup directory (v1 controllers and unified), deepest first
rm_cgroup() {
    local rel=$1 c
    for c in /sys/fs/cgroup/*/ /sys/fs/cgroup/unified/; do
        [ -d "$c$rel" ] || continue
        find "$c$rel" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
}

# A network namespace of our own: bridges, veths, iptables and published
# ports of the daemons run in it stay out of the host namespace.
make_netns() {
    local ns=$1
    ip netns add "$ns" || return 1
    on_exit "ip netns pids $ns | xargs -r kill -KILL; ip netns delete $ns"
    ip netns exec "$ns" ip link set lo up
}

# build_images DIR: busybox OCI layout (umoci) and docker-archives (skopeo) of
#   localhost/bulkhead-it/busybox:latest   sh; httpd content in /www; user 1000 (app)
#   localhost/bulkhead-it/pause:latest     sleep forever (CRI sandbox image)
build_images() {
    local d=$1 bb
    bb=$(command -v busybox) || { echo "busybox-static not installed"; return 1; }
    [ -f "$d/busybox.tar" ] && [ -f "$d/pause.tar" ] && return 0
    rm -rf "$d/oci" "$d/bundle"
    mkdir -p "$d"
    umoci init --layout "$d/oci"
    umoci new --image "$d/oci:busybox"
    umoci unpack --rootless --image "$d/oci:busybox" "$d/bundle" >/dev/null
    local r=$d/bundle/rootfs
    mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/www" "$r/root" "$r/home/app" "$r/proc" "$r/sys" "$r/dev"
    chmod 1777 "$r/tmp"
    cp "$bb" "$r/bin/busybox"
    local a
    for a in $("$bb" --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
    printf 'root:x:0:\napp:x:1000:\nnobody:x:65534:\n' >"$r/etc/group"
    chown 1000:1000 "$r/home/app"
    echo "hello from bulkhead-it httpd" >"$r/www/index.html"
    umoci repack --image "$d/oci:busybox" "$d/bundle" >/dev/null
    umoci config --image "$d/oci:busybox" --config.cmd sh --config.env PATH=/bin --config.workingdir / \
        --config.exposedports 80/tcp --architecture amd64 --os linux
    umoci config --image "$d/oci:busybox" --tag pause --config.cmd sleep --config.cmd 2147483647 \
        --config.env PATH=/bin --architecture amd64 --os linux
    umoci gc --layout "$d/oci"
    skopeo copy -q "oci:$d/oci:busybox" "docker-archive:$d/busybox.tar:localhost/bulkhead-it/busybox:latest"
    skopeo copy -q "oci:$d/oci:pause" "docker-archive:$d/pause.tar:localhost/bulkhead-it/pause:latest"
    rm -rf "$d/bundle"
}
