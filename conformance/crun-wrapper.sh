#!/bin/sh
# crun 1.8.1 refuses hybrid cgroup hosts; run it in a private mount namespace
# with the cgroup2 mount at /sys/fs/cgroup/unified hidden, so that it sees v1.
# --propagation slave: the umount does not propagate to the host, while host
# mounts (e.g. a shared bundle mount) still propagate into crun's namespace.
exec unshare -m --propagation slave sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec /usr/bin/crun "$@"' sh "$@"
