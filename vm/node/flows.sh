#!/bin/sh
# In the node VM (run by vm/node/run.sh from scripts/node-test.sh): the client flows of
# integration/ (containerd 2 ctr, CRI, podman 5, docker 28) plus the node's own
# (vm/node/clients/node.sh: placement, cgroup v2, criu) against NODE_RUNTIME
# (bulkhead: /usr/local/bin/bulkhead; runc or crun: the node's own). Images come from
# /test/images (made on the host); the step lines go to the console for the host to count.
set -u
[ -f /test/env ] && . /test/env
case "${NODE_RUNTIME:-bulkhead}" in
    bulkhead) RT=$BULKHEAD ;;
    runc|crun) RT=$(command -v "$NODE_RUNTIME") ;;
    *) echo "flows: unknown NODE_RUNTIME $NODE_RUNTIME"; exit 2 ;;
esac
echo "# node: $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), $(systemctl --version | head -n1)"
echo "# node: $(containerd --version | cut -d' ' -f1,3), podman $(podman --version | cut -d' ' -f3), $(docker --version | cut -d, -f1)"
echo "# node: runc $(runc --version | awk 'NR==1{print $3}'), crun $(crun --version | awk 'NR==1{print $3}'), cgroup $(stat -fc %T /sys/fs/cgroup), controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
echo "# node: caller's cgroup $(cut -d: -f3 /proc/self/cgroup)"
cp /test/clients/*.sh /test/integration/clients/
clients="containerd cri podman docker placement cgroupv2 criu systemd containerd-systemd cri-systemd podman-systemd docker-systemd"
# the rootless podman flows of integration/ (cgroupfs, then podman's systemd cgroup manager)
[ -f /test/integration/clients/podman-rootless.sh ] && clients="$clients podman-rootless podman-rootless-systemd"
# logs of every step: a failing run shows them on the console (KEEP_LOGS)
RUNTIME=$RT IMAGES_CACHE=/test/images KEEP_LOGS=/test/logs STEP_TIMEOUT=${STEP_TIMEOUT:-180} \
    bash /test/integration/run.sh ${NODE_CLIENTS:-$clients}
rc=$?
if [ "$rc" != 0 ] && [ -n "${NODE_SHOW_LOGS:-1}" ]; then
    for f in /test/logs/*.log; do echo "==== $f"; tail -n 40 "$f"; done
fi
exit "$rc"
