#!/bin/sh
# mmdebstrap customize hook of scripts/node-image.sh: makes the sid root filesystem ($1)
# a bootable test node. Runs on the host with the image's root as $1.
set -eu
r=$1
echo bulkhead-node > "$r/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 bulkhead-node\n::1 localhost\n' > "$r/etc/hosts"
printf '/dev/vda / ext4 rw,noatime 0 0\n' > "$r/etc/fstab"
# No login prompts, no timers, no daemons the flows start themselves (each flow runs its
# own containerd/dockerd with private state, as integration/ does on the build host).
for u in getty.target serial-getty@ttyS0.service console-getty.service \
         containerd.service docker.service docker.socket \
         apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
         fstrim.timer dpkg-db-backup.timer systemd-timesyncd.service podman-restart.service \
         podman-auto-update.timer podman-clean-transient.service; do
    ln -sf /dev/null "$r/etc/systemd/system/$u"
done
# The test runner: vm/node/run.sh attaches the test disk (label node-test) as /dev/vdb.
cat > "$r/etc/systemd/system/node-test.service" <<'UNIT'
[Unit]
Description=bulkhead node test (vm/node/run.sh)
After=basic.target dbus.service systemd-logind.service
Wants=dbus.service systemd-logind.service
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=exec
ExecStart=/usr/local/sbin/node-test-run
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
UNIT
ln -sf ../node-test.service "$r/etc/systemd/system/multi-user.target.wants/node-test.service"
mkdir -p "$r/usr/local/sbin"
cat > "$r/usr/local/sbin/node-test-run" <<'RUN'
#!/bin/sh
# Mount the test disk, run its script with BULKHEAD and TEST_DIR set, print the marker.
mkdir -p /node
if ! mount -o ro /dev/vdb /node; then
    echo "NODE-RESULT: FAIL rc=201 (no test disk)"; exit 1
fi
# The disk is read-only; the script works in a writable copy.
rm -rf /test && cp -a /node /test && umount /node
install -m 755 /test/bulkhead /usr/local/bin/bulkhead
export BULKHEAD=/usr/local/bin/bulkhead TEST_DIR=/test HOME=/root
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd /test
echo "node: running $(cat /test/script-name) (kernel $(uname -r), up $(cut -d' ' -f1 /proc/uptime)s, systemd $(systemctl --version | awk 'NR==1{print $2}'))"
sh "/test/$(cat /test/script-name)"
rc=$?
if [ "$rc" = 0 ]; then echo "NODE-RESULT: PASS"; else echo "NODE-RESULT: FAIL rc=$rc"; fi
exit 0
RUN
chmod 755 "$r/usr/local/sbin/node-test-run"
# An ordinary user for rootless podman (subordinate ids from useradd's defaults).
chroot "$r" useradd -m -u 1000 -s /bin/bash node
grep -q '^node:' "$r/etc/subuid" || echo 'node:100000:65536' >> "$r/etc/subuid"
grep -q '^node:' "$r/etc/subgid" || echo 'node:100000:65536' >> "$r/etc/subgid"
# No password for root: login is never used (no getty); the journal stays in memory.
mkdir -p "$r/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' > "$r/etc/systemd/journald.conf.d/node.conf"
