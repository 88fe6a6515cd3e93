# podman rootless, as people run it: an ordinary user the script creates (useradd) with a
# subuid/subgid range, home, storage (vfs) and containers.conf naming the runtime (basename
# of $RUNTIME = [$RUNTIME], listed in runtime_supports_json). podman re-executes itself in a
# user namespace and runs the runtime there as uid 0 of that namespace, with XDG_RUNTIME_DIR
# set: the runtime must keep its state under $XDG_RUNTIME_DIR/<name> and skip the cgroups
# it may not create (runc's rules).
# What differs between hosts is detected, not named:
# - systemd as PID 1 (the node): the user gets its systemd user manager (`loginctl
#   enable-linger`), so XDG_RUNTIME_DIR is /run/user/UID with the manager's bus, and podman
#   moves itself into a scope of the user's delegated subtree (user@UID.service); otherwise
#   (the build host) XDG_RUNTIME_DIR is a directory of our own;
# - cgroup v2 vs v1: --memory/--pids-limit are applied in the delegated subtree and pause
#   works (v2), or warned and ignored, pause refused (v1), as podman does with runc;
# - the rootless network: pasta (podman 5) where installed, else slirp4netns (podman 4).
# Every command runs in a network namespace of our own (nsenter --net as root, then
# setpriv to the user), so the published port listens only there.
# Removed at the end: the user's containers, podman's pause process, the linger and the user
# manager, the user, its subuid/subgid lines, its home and runtime dir, the netns.
# RL_CGROUP_MANAGER: cgroupfs (default) or systemd (the runtime's --systemd-cgroup, D-Bus to
# the user's manager; needs the user manager). Sourced by run.sh.

RL_USER=bhit-rl$$
RL_PORT=18081
RL_CGROUP_MANAGER=${RL_CGROUP_MANAGER:-cgroupfs}

# What this host has (see the header)
rl_has_systemd() { [ -d /run/systemd/system ] && command -v loginctl >/dev/null; }
rl_cgroup2() { [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; }
rl_network() { if command -v pasta >/dev/null; then echo pasta; elif command -v slirp4netns >/dev/null; then echo slirp4netns; fi; }

rl_conf() {
    local name=$1 path=$2
    cat <<CONF
[containers]
# Root here lacks CAP_SYS_RESOURCE: stay within the hard limits (see podman.sh).
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$(lim=$(ulimit -Hu); [ "$lim" = unlimited ] || [ "$lim" -gt 32768 ] && lim=32768; echo $lim:$lim)"]

[engine]
runtime = "$name"
cgroup_manager = "$RL_CGROUP_MANAGER"
events_logger = "file"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "bulkhead"]

[engine.runtimes]
$name = ["$path"]
CONF
}

# rl CMD...: CMD as the test user, in the test's netns and a private mount namespace
# (for the /dev/net/tun below), with the user's environment only (and its manager's bus)
rl() { nsenter --net="$RL_NETNS" unshare --mount --propagation slave "$RL_BASE/as-user" "$@"; }
# The user's part of rl. Where /dev/net/tun is 0600 (the build host; Debian's default is
# 0666) slirp4netns/pasta cannot open it as the user: a 0666 node of our own is bound over
# it, in rl's mount namespace only.
rl_as_user() {
    echo '#!/bin/sh'
    [ -n "$RL_TUN" ] && echo "mount --bind \"$RL_TUN\" /dev/net/tun || exit 1"
    cat <<SH
exec setpriv --reuid "$RL_UID" --regid "$RL_GID" --init-groups --reset-env \\
    env HOME="$RL_HOME" USER="$RL_USER" LOGNAME="$RL_USER" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \\
    XDG_RUNTIME_DIR="$RL_XDG" ${RL_BUS:+DBUS_SESSION_BUS_ADDRESS="unix:path=$RL_BUS"} CONTAINERS_CONF="$RL_HOME/containers.conf" "\$@"
SH
}
rpm() { rl podman "$@"; }
# rpm_tty CMD...: podman with a terminal on stdin/stdout (script(1) makes the pty). script's
# stdin stays open until podman is done (a pipe from a sleep, ended afterwards): at EOF on its
# stdin script(1) passes an end-of-file to the pty, and `-i` podman then sometimes ended its
# attach before the container's output came through (`run -it` lost all of it in 7 runs of 40
# with runc, 11-18 with bulkhead; 0 of 40 with stdin open).
rpm_tty() {
    local rc=0 feed feeder
    exec {feed}< <(exec sleep 300)
    feeder=$!
    rl script -qec "podman $*" /dev/null <&"$feed" || rc=$?
    exec {feed}<&-
    kill "$feeder" 2>/dev/null
    return "$rc"
}

rl_setup() {
    local base
    RL_NET=$(rl_network) RL_BUS= RL_DELEGATED=
    base=$(mktemp -d /tmp/bhit-rootless.XXXXXX) || return 1
    chmod 755 "$base"
    RL_BASE=$base RL_HOME=$base/home RL_XDG=$base/run
    on_exit "rl_teardown"
    # /etc/passwd and /etc/subuid locks may be held by a test creating its own user: retry
    retry 10 useradd -M -d "$RL_HOME" -s /bin/sh "$RL_USER" || { echo "setup: useradd $RL_USER failed"; return 1; }
    RL_UID=$(id -u "$RL_USER") RL_GID=$(id -g "$RL_USER")
    # useradd may have given a range already (SUB_UID_COUNT in login.defs); else add one
    grep -q "^$RL_USER:" /etc/subuid || retry 10 usermod --add-subuids 1300000-1365535 "$RL_USER" || { echo "setup: no subuid range"; return 1; }
    grep -q "^$RL_USER:" /etc/subgid || retry 10 usermod --add-subgids 1300000-1365535 "$RL_USER" || { echo "setup: no subgid range"; return 1; }
    if rl_has_systemd; then
        rl_user_manager || return 1
    else
        mkdir -p "$RL_XDG" && chmod 700 "$RL_XDG" && chown "$RL_UID:$RL_GID" "$RL_XDG"
    fi
    mkdir -p "$RL_HOME/bin" "$RL_HOME/private"
    chmod 700 "$RL_HOME" "$RL_HOME/private"
    echo "only the user can read this" >"$RL_HOME/private/secret"
    # the runtime and the images, where the user can reach them
    RL_RT=$RL_HOME/bin/$(basename "$RUNTIME")
    cp "$RUNTIME" "$RL_RT"
    cp "$IMAGES/busybox.tar" "$IMAGES/pause.tar" "$RL_HOME/"
    rl_conf "$(basename "$RUNTIME")" "$RL_RT" >"$RL_HOME/containers.conf"
    mkdir -p "$RL_HOME/.config/containers"
    printf '[storage]\ndriver = "vfs"\n' >"$RL_HOME/.config/containers/storage.conf"
    chown -R "$RL_UID:$RL_GID" "$RL_HOME"
    RL_TUN=
    if [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
        RL_TUN=$RL_BASE/tun
        mknod -m 666 "$RL_TUN" c 10 200 || { echo "setup: mknod $RL_TUN failed"; return 1; }
    fi
    rl_as_user >"$RL_BASE/as-user" && chmod 755 "$RL_BASE/as-user" || { echo "setup: writing $RL_BASE/as-user failed"; return 1; }
    # The netns is held by a process of ours, not a /run/netns name: a name there can be
    # removed by anything else on the machine that cleans up netns names.
    unshare --net sh -c 'ip link set lo up && exec sleep 2147483647' >/dev/null 2>&1 &
    RL_NS_PID=$!
    on_exit "kill $RL_NS_PID"
    RL_NETNS=/proc/$RL_NS_PID/ns/net
    retry 25 rl_lo_up || { echo "the netns held by $RL_NS_PID has no lo up"; return 1; }
    # pasta copies the addresses and routes of the namespace it starts in and refuses one
    # without a route: a dummy link with a default route (nothing leaves the netns)
    if [ "$RL_NET" = pasta ]; then
        nsenter --net="$RL_NETNS" sh -c 'ip link add bhit0 type dummy && ip addr add 10.99.0.1/24 dev bhit0 &&
            ip link set bhit0 up && ip route add default via 10.99.0.254 dev bhit0' || { echo "setup: a dummy link in the netns"; return 1; }
    fi
    # the state root the runtime must use (runc's rule for uid 0 of a user namespace)
    RL_STATE=$RL_XDG/$(basename "$RUNTIME")
}
# The user's systemd manager (the node): linger starts user@UID.service, which makes
# /run/user/UID and the bus, and gives the user its delegated cgroup subtree.
rl_user_manager() {
    loginctl enable-linger "$RL_USER" || { echo "setup: loginctl enable-linger $RL_USER failed"; return 1; }
    RL_XDG=/run/user/$RL_UID RL_BUS=/run/user/$RL_UID/bus
    local i
    for ((i = 0; i < 600; i++)); do [ -S "$RL_BUS" ] && break; sleep 0.1; done
    [ -S "$RL_BUS" ] || { echo "setup: no $RL_BUS after 60s: $(systemctl status "user@$RL_UID.service" 2>&1 | tail -n 3)"; return 1; }
    RL_DELEGATED=/sys/fs/cgroup/user.slice/user-$RL_UID.slice/user@$RL_UID.service
    echo "# user manager up: $RL_DELEGATED, controllers: $(cat "$RL_DELEGATED/cgroup.controllers" 2>&1)"
}
rl_lo_up() { nsenter --net="$RL_NETNS" ip -o link show lo 2>/dev/null | grep -q ',UP'; }
rl_teardown() {
    [ -n "${RL_UID:-}" ] || return 0
    rpm rm -a -f -t 0 >/dev/null 2>&1
    rpm pod rm -a -f >/dev/null 2>&1
    rpm system reset -f >/dev/null 2>&1
    if [ -n "${RL_BUS:-}" ]; then
        loginctl disable-linger "$RL_USER"
        loginctl terminate-user "$RL_USER"
        systemctl stop "user@$RL_UID.service" "user-runtime-dir@$RL_UID.service"
    fi
    # what is left of the user's processes (podman's pause process, conmon, slirp4netns/pasta)
    local i
    for ((i = 0; i < 3; i++)); do
        pgrep -u "$RL_UID" >/dev/null || break
        pgrep -u "$RL_UID" | xargs -r kill -KILL; sleep 0.3
    done
    grep -F " $RL_BASE/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
    userdel "$RL_USER"
    # podman's lock segment for this uid outlives the user (the uid is ours: we made the user)
    local lock=/dev/shm/libpod_rootless_lock_$RL_UID
    [ "$(stat -c %u "$lock" 2>/dev/null)" = "$RL_UID" ] && rm -f "$lock"
    # userdel leaves the subordinate ranges on some shadow versions
    sed -i "/^$RL_USER:/d" /etc/subuid /etc/subgid
    rm -rf "$RL_BASE"
}
rl_load() { rpm load -q -i "$RL_HOME/busybox.tar" >/dev/null && rpm load -q -i "$RL_HOME/pause.tar" >/dev/null && rpm image exists "$IMG"; }
rl_run() {
    local out rc=0
    out=$(rpm run --rm --network none "$IMG" sh -c 'echo uid=$(id -u); echo out-run; exit 7' 2>&1) || rc=$?
    expect "exit code ($out)" "$rc" 7 && contains stdout "$out" uid=0 && contains stdout "$out" out-run
}
rl_run_it() {
    local out
    out=$(rpm_tty run --rm -it --network none "$IMG" sh -c "'tty; test -t 0 && echo is-a-tty'")
    contains tty "$out" /dev/pts/ && contains tty "$out" is-a-tty
}
rl_run_d() {
    rpm run -d --name r1 --network none "$IMG" sh -c "$PM_LOOP" >/dev/null &&
        expect "state, runtime" "$(rpm inspect -f '{{.State.Status}} {{.OCIRuntime}}' r1)" "running $(basename "$RUNTIME")" || return 1
    # runc's rule for uid 0 of a user namespace: the state is under $XDG_RUNTIME_DIR
    local id; id=$(rpm inspect -f '{{.Id}}' r1)
    [ -f "$RL_STATE/$id/state.json" ] || { echo "no state in $RL_STATE/$id: $(ls "$RL_STATE" 2>&1)"; return 1; }
}
rl_exec() { local out; out=$(rpm exec r1 sh -c 'echo hi-from-exec; id -u' 2>&1) || { echo "$out"; return 1; }
    expect stdout "$(echo $out)" "hi-from-exec 0"; }
rl_exec_rc() { local rc=0; rpm exec r1 sh -c 'exit 5' || rc=$?; expect "exit code" "$rc" 5; }
rl_exec_it() {
    local out
    out=$(rpm_tty exec -it r1 sh -c "'tty; test -t 0 && echo is-a-tty'")
    contains tty "$out" /dev/pts/ && contains tty "$out" is-a-tty
}
rl_logs() { local out; out=$(rpm logs r1 2>&1) && contains logs "$out" started; }
rl_stop() { rpm stop -t 10 r1 >/dev/null && expect "state, exit code" "$(rpm inspect -f '{{.State.Status}} {{.State.ExitCode}}' r1)" "exited 143"; }
rl_start() { rpm start r1 >/dev/null && expect state "$(rpm inspect -f '{{.State.Status}}' r1)" running && rpm exec r1 true &&
    expect "'started' lines in the logs (two runs)" "$(rpm logs r1 | grep -c started)" 2; }
rl_restart() {
    local pid1 pid2
    pid1=$(rpm inspect -f '{{.State.Pid}}' r1)
    rpm restart -t 10 r1 >/dev/null && pid2=$(rpm inspect -f '{{.State.Pid}}' r1) || return 1
    expect state "$(rpm inspect -f '{{.State.Status}}' r1)" running && [ "$pid1" != "$pid2" ] || { echo "pid $pid1 -> $pid2"; return 1; }
}
rl_state_is() { [ "$(rpm inspect -f '{{.State.Status}}' "$1")" = "$2" ]; }
rl_kill() {
    rpm kill -s TERM r1 >/dev/null && retry 25 rl_state_is r1 exited &&
        expect "exit code" "$(rpm inspect -f '{{.State.ExitCode}}' r1)" 143
}
# cgroup v1 (or hybrid): a rootless user owns no freezer; podman refuses before asking the
# runtime (runc gives the same result). cgroup v2: pause must work.
rl_pause() {
    rpm start r1 >/dev/null || return 1
    local out rc=0
    out=$(rpm pause r1 2>&1) || rc=$?
    if rl_cgroup2; then
        expect "pause ($out)" "$rc" 0 && expect state "$(rpm inspect -f '{{.State.Status}}' r1)" paused &&
            rpm unpause r1 >/dev/null && expect state "$(rpm inspect -f '{{.State.Status}}' r1)" running
    else
        contains "pause on cgroup v1, rootless (refused, as with runc)" "$out" "with cgroup V1" &&
            expect "state after the refused pause" "$(rpm inspect -f '{{.State.Status}}' r1)" running
    fi
}
# cgroup v1: podman warns and drops the limits (runc the same). cgroup v2: the limits are
# applied in the container's cgroup, which lies in the user's delegated subtree
# (user@UID.service, with the user manager), seen from the host and inside (cgroupns).
rl_limits() {
    local out
    out=$(rpm run --rm --network none --memory 32m --pids-limit 50 "$IMG" sh -c 'echo limited-run' 2>&1) || { echo "$out"; return 1; }
    contains stdout "$out" limited-run || return 1
    if ! rl_cgroup2; then
        contains "podman's warning on cgroup v1" "$out" "ignored on cgroups V1 rootless"
        return
    fi
    rpm run -d --name lim --network none --memory 32m --pids-limit 50 "$IMG" sh -c "$PM_LOOP" >/dev/null || return 1
    local pid cg
    pid=$(rpm inspect -f '{{.State.Pid}}' lim) && cg=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup") || return 1
    echo "# container cgroup: $cg"
    if [ -n "$RL_DELEGATED" ]; then
        case "/sys/fs/cgroup$cg" in "$RL_DELEGATED"/*) ;; *) echo "the container's cgroup $cg is not in the user's delegated subtree $RL_DELEGATED"; return 1 ;; esac
    fi
    expect "memory.max of $cg" "$(cat "/sys/fs/cgroup$cg/memory.max" 2>&1)" 33554432 &&
        expect "pids.max of $cg" "$(cat "/sys/fs/cgroup$cg/pids.max" 2>&1)" 50 &&
        expect "memory.max pids.max inside the container" "$(rpm exec lim cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max 2>&1 | tr '\n' ' ')" "33554432 50 " || return 1
    rpm rm -f -t 0 lim >/dev/null
}
rl_keep_id() {
    local out
    out=$(rpm run --rm --network none --userns=keep-id "$IMG" sh -c 'id -u; id -g' 2>&1) || { echo "$out"; return 1; }
    expect "uid gid in the container" "$(echo $out)" "$RL_UID $RL_GID"
}
rl_volume() {
    local out
    out=$(rpm run --rm --network none -v "$RL_HOME/private:/data" "$IMG" sh -c 'cat /data/secret; echo written > /data/new' 2>&1) || { echo "$out"; return 1; }
    contains "read a 0700 directory of the user" "$out" "only the user can read this" &&
        expect "owner of a file written to the volume" "$(stat -c %U "$RL_HOME/private/new")" "$RL_USER"
}
rl_port() {
    rpm run -d --name web --network "$RL_NET" -p 127.0.0.1:$RL_PORT:80 "$IMG" httpd -f -p 80 -h /www >/dev/null || return 1
    local out i
    for ((i = 0; i < 25; i++)); do
        out=$(nsenter --net="$RL_NETNS" curl -sS -m 2 "http://127.0.0.1:$RL_PORT/" 2>&1) && break
        sleep 0.2
    done
    contains "GET http://127.0.0.1:$RL_PORT/ in the test's netns" "$out" "hello from bulkhead-it httpd"
}
rl_rm() { rpm rm -f -t 2 r1 web >/dev/null && expect "containers left" "$(rpm ps -a -q)" ""; }
rl_root_empty() {
    expect "containers left in the runtime's state root $RL_STATE" "$(ls -A "$RL_STATE" 2>&1)" "" || return 1
    # and no container's cgroup left in the user's subtree (named after a 64-hex id)
    [ -n "$RL_DELEGATED" ] || return 0
    expect "cgroups left in $RL_DELEGATED" "$(find "$RL_DELEGATED" -mindepth 1 -type d -regextype egrep -regex '.*[0-9a-f]{64}[^/]*' 2>&1)" ""
}
rl_reset() {
    # podman's reset can race its own event log: it removes libpod/tmp while logging the reset
    # into libpod/tmp/events (events_logger = "file") and fails "unlinkat .../events:
    # directory not empty" (seen once in CI, the runtime has no part in it): a second reset
    # finds the stray event file and removes it
    rpm system migrate >/dev/null && { rpm system reset -f >/dev/null 2>&1 || rpm system reset -f >/dev/null; } || return 1
    local left
    # podman keeps its blob-info cache (.local/share/containers/cache) through a reset, and
    # may log the reset itself to libpod/tmp/events (events_logger = "file"); podman 5 makes
    # the empty store and runroot again (directories and lock files) before it returns
    left=$({ find "$RL_HOME/.local/share/containers/storage" "$RL_XDG/containers" -mindepth 1 ! -type d ! -name '*.lock'
        find "$RL_XDG/libpod" "$RL_STATE" -mindepth 1 \
            ! -path "$RL_XDG/libpod/tmp" ! -path "$RL_XDG/libpod/tmp/events*"; } 2>/dev/null)
    [ -z "$left" ] || echo "$left"
    expect "left after podman system reset" "$(head -n 5 <<<"$left")" ""
}

client_podman-rootless() {
    if ! command -v newuidmap >/dev/null || [ -z "$(rl_network)" ]; then
        skip "setup (user, subuid, XDG_RUNTIME_DIR, netns)" "newuidmap (uidmap), or pasta or slirp4netns, not installed"
        return
    fi
    local rc=0
    rl_setup >"$WORK/step.out" 2>&1 || rc=$?
    cat "$WORK/step.out" >>"$WORK/$CLIENT.log"
    if [ "$rc" = 0 ]; then ok "setup (user, subuid, XDG_RUNTIME_DIR, netns)"; else
        notok "setup (user, subuid, XDG_RUNTIME_DIR, netns)" "$(grep -v '^[[:space:]]*$' "$WORK/step.out" | tail -n 3 | tr '\n' ' ')"; return; fi
    step "load (docker-archive)" rl_load
    step "run (uid 0 in the container), exit code" rl_run
    step "run -it" rl_run_it
    step "run -d, state under \$XDG_RUNTIME_DIR" rl_run_d
    step "exec" rl_exec
    step "exec exit code" rl_exec_rc
    step "exec -it" rl_exec_it
    step "logs" rl_logs
    step "stop" rl_stop
    step "start again" rl_start
    step "restart" rl_restart
    step "kill -s TERM" rl_kill
    step "pause/unpause (refused on cgroup v1)" rl_pause
    step "run --memory --pids-limit (ignored on cgroup v1, applied on v2)" rl_limits
    step "pod (infra container, shared pid/ipc/uts)" pod_check rpm
    step "run --userns=keep-id" rl_keep_id
    step "run -v (a 0700 directory of the user)" rl_volume
    step "run --network $RL_NET -p, GET the published port" rl_port
    step "rm" rl_rm
    step "nothing left in the runtime's state root" rl_root_empty
    step "system migrate + reset, nothing left" rl_reset
}

# The same steps with podman's systemd cgroup manager: the runtime gets --systemd-cgroup and
# a `user.slice:libpod:ID` cgroupsPath, and makes the container a scope through the user's
# manager (D-Bus). Only where the user has a systemd manager (the node).
client_podman-rootless-systemd() {
    if ! rl_has_systemd; then
        skip "setup (user, subuid, XDG_RUNTIME_DIR, netns)" "no systemd here for a user manager (cgroup_manager = \"systemd\" needs one)"
        return
    fi
    RL_CGROUP_MANAGER=systemd client_podman-rootless
}
