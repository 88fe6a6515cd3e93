#!/bin/sh
# Self-test of the VM harness (vm/run.sh): the VM is a pure cgroup v2 host
# with what a container runtime needs. Runs with busybox sh inside the VM.
set -eu
ok() { echo "harness: ok: $*"; }

# pure cgroup v2, all controllers delegated from the root
grep -q '^cgroup2 /sys/fs/cgroup cgroup2 ' /proc/mounts
if grep -q ' cgroup ' /proc/mounts; then echo 'cgroup v1 mounted'; exit 1; fi
for c in cpu memory pids io; do
    grep -qw "$c" /sys/fs/cgroup/cgroup.controllers
    grep -qw "$c" /sys/fs/cgroup/cgroup.subtree_control
done
mkdir /sys/fs/cgroup/harness
echo 64 > /sys/fs/cgroup/harness/pids.max
echo 67108864 > /sys/fs/cgroup/harness/memory.max
sh -c 'echo $$ > /sys/fs/cgroup/harness/cgroup.procs; exec true'
rmdir /sys/fs/cgroup/harness
ok "cgroup v2: $(cat /sys/fs/cgroup/cgroup.subtree_control)"

# modules
for m in overlay veth bridge; do grep -q "^$m " /proc/modules; done
mkdir -p /tmp/ov/lower /tmp/ov/upper /tmp/ov/work /tmp/ov/merged
echo hi > /tmp/ov/lower/f
mount -t overlay overlay -o lowerdir=/tmp/ov/lower,upperdir=/tmp/ov/upper,workdir=/tmp/ov/work /tmp/ov/merged
[ "$(cat /tmp/ov/merged/f)" = hi ]
umount /tmp/ov/merged
ip link add vh0 type veth peer name vh1
ip link add br-h type bridge
ip link set vh0 master br-h
ip link del vh0
ip link del br-h
ok "overlay, veth, bridge"

# pivot_root into the container rootfs in new mount+pid namespaces
mkdir -p /tmp/c
cp -a "$CONTAINER_ROOTFS" /tmp/c/rootfs
out=$(unshare -m -p -f sh -c '
    mount --make-rprivate /
    mount --bind /tmp/c/rootfs /tmp/c/rootfs
    cd /tmp/c/rootfs
    mkdir -p .old
    pivot_root . .old
    exec chroot . /bin/sh -c "umount -l /.old; mount -t proc proc /proc; echo pid=\$\$ root=\$(ls /.old | wc -l)"')
[ "$out" = "pid=1 root=0" ] || { echo "unexpected: $out"; exit 1; }
ok "pivot_root in new namespaces: $out"

# the runtime binary and bundle helper are there
[ -x "$BULKHEAD" ]
set +e; "$BULKHEAD" --version >/dev/null 2>&1; rc=$?; set -e
[ "$rc" -lt 126 ] || { echo "bulkhead does not execute (rc=$rc)"; exit 1; }
vm-bundle /tmp/b echo 'a "quoted" arg'
grep -q '"echo", "a \\"quoted\\" arg"' /tmp/b/config.json
grep -q '"path": "/containers/busybox/rootfs"' /tmp/b/config.json
ok "bulkhead executes (rc=$rc), vm-bundle"
