#!/usr/bin/env bash
# Run a test script on the production-node VM: Debian sid, systemd as PID 1, pure cgroup v2.
#
#   vm/node/run.sh SCRIPT [FILES...]
#
# Builds the image if needed (scripts/node-image.sh: build/node/{vmlinuz,initrd.img,root.img}),
# then boots it under qemu -accel tcg with
#   /dev/vda  the root image, copy-on-write (qemu snapshot=on: the cached image never changes);
#   /dev/vdb  a small read-only ext4 disk made per run (mke2fs -d, no loop mount) holding the
#             bulkhead static binary as `bulkhead`, SCRIPT, FILES (files or directories) and
#             `script-name`; NODE_ENV (a file of VAR=value lines) is copied as `env` if set.
# The unit node-test.service (in the image) copies the disk to /test, installs bulkhead as
# /usr/local/bin/bulkhead, runs `sh /test/SCRIPT` with BULKHEAD and TEST_DIR set, prints
# "NODE-RESULT: PASS" or "NODE-RESULT: FAIL rc=N" on the serial console and powers off.
# The exit status follows the marker (no marker: 2; timeout: 124).
# Console log: build/node/console.log (NODE_LOG to move it; the raw console in LOG.raw).
#
# Environment: BULKHEAD (static binary; default the release static build; `none`: a run
# without it, for the node's own runtimes); NODE_TIMEOUT (seconds, default 3600: a full
# flows run took 18-30 min on a loaded 2-core host); NODE_MEM (MiB, default 3072); NODE_SMP
# (default 1: with 2 TCG vCPUs the guest oopsed once, int3 in dequeue_entities while the
# kernel patched its text for the first cpu.max); NODE_APPEND (extra kernel command line);
# NODE_QEMU_ARGS (extra qemu arguments).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
die() { echo "vm/node/run.sh: $*" >&2; exit 2; }

[ $# -ge 1 ] || die "usage: vm/node/run.sh SCRIPT [FILES...]"
script=$1; shift
[ -f "$script" ] || die "no such script: $script"
for f in "$@"; do [ -e "$f" ] || die "no such file: $f"; done
for c in qemu-system-x86_64 mke2fs file; do
    command -v "$c" >/dev/null || die "$c not found: run 'make node-deps'"
done

out=$repo/build/node
NODE_TIMEOUT=${NODE_TIMEOUT:-3600}
NODE_MEM=${NODE_MEM:-3072}
NODE_SMP=${NODE_SMP:-1}
log=${NODE_LOG:-$out/console.log}

if [ -z "${BULKHEAD:-}" ]; then
    BULKHEAD=${CARGO_TARGET_DIR:-$repo/target}/$("$repo/scripts/triple.sh")/release/bulkhead
fi
if [ "$BULKHEAD" != none ]; then
    [ -x "$BULKHEAD" ] || die "bulkhead binary not found: $BULKHEAD (run 'make build', set BULKHEAD, or BULKHEAD=none)"
    file -L "$BULKHEAD" | grep -Eq 'statically linked|static-pie linked' \
        || die "$BULKHEAD is not statically linked; it would not run on the node"
fi

"$repo/scripts/node-image.sh"

# ---- the per-run test disk ----------------------------------------------------
run=$out/run.$$
disk=$out/test.$$.img
cleanup() { rm -rf "$run" "$disk"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$run"
[ "$BULKHEAD" = none ] || cp "$BULKHEAD" "$run/bulkhead"
cp "$script" "$run/"
basename "$script" > "$run/script-name"
for f in "$@"; do cp -a "$f" "$run/"; done
[ -n "${NODE_ENV:-}" ] && cp "$NODE_ENV" "$run/env"
mke2fs -q -t ext4 -L node-test -d "$run" "$disk" "$(( $(du -sm "$run" | cut -f1) + 32 ))M"

# ---- boot -----------------------------------------------------------------------
mkdir -p "$(dirname "$log")"
echo "vm/node/run.sh: booting $(cat "$out/kernel-version") for $(basename "$script") (timeout ${NODE_TIMEOUT}s)" >&2
start=$(date +%s)
set +e
# shellcheck disable=SC2086
timeout -k 10 "$NODE_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m "$NODE_MEM" -smp "$NODE_SMP" \
    -nographic -no-reboot -nic none -device virtio-rng-pci \
    -kernel "$out/vmlinuz" -initrd "$out/initrd.img" \
    -drive "file=$out/root.img,format=raw,if=virtio,snapshot=on" \
    -drive "file=$disk,format=raw,if=virtio,readonly=on" \
    -append "root=/dev/vda rw console=ttyS0 panic=-1 quiet systemd.show_status=error ${NODE_APPEND:-}" \
    ${NODE_QEMU_ARGS:-} </dev/null 2>&1 | tee "$log.raw"
qrc=${PIPESTATUS[0]}
set -e
echo "vm/node/run.sh: $(( $(date +%s) - start ))s from qemu start to power-off" >&2
# The unit's output reaches the console through journald ("[  64.3] node-test-run[305]: "):
# the log keeps the lines as the script wrote them.
tr -d '\r' <"$log.raw" | sed -E 's/^.*\[ *[0-9]+\.[0-9]+\] node-test-run\[[0-9]+\]: //' >"$log"

marker=$(grep -a '^NODE-RESULT:' "$log" | tail -n1 || true)
case "$marker" in
    "NODE-RESULT: PASS") exit 0 ;;
    "NODE-RESULT: FAIL rc="*)
        rc=${marker#NODE-RESULT: FAIL rc=}; rc=${rc%% *}
        [[ "$rc" =~ ^[0-9]+$ ]] && [ "$rc" -gt 0 ] && [ "$rc" -lt 256 ] || rc=1
        exit "$rc" ;;
esac
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    echo "NODE-RESULT: TIMEOUT after ${NODE_TIMEOUT}s" >&2
    exit 124
fi
echo "NODE-RESULT: NONE (qemu exited $qrc without a result marker)" >&2
exit 2
