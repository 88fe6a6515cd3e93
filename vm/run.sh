#!/usr/bin/env bash
# Run a test script in a qemu VM that is a pure cgroup v2 host.
#
#   vm/run.sh SCRIPT [FILES...]
#
# Boots build/kernel (the Debian cloud kernel fetched by `make deps`) under
# qemu -accel tcg with an initramfs made of:
#   - a cached base (build/vm/base-<hash>.cpio.gz): busybox-static with its
#     applets, /init (vm/init), the kernel modules in VM_MODULES and their
#     dependencies, a busybox container rootfs /containers/busybox/rootfs with a
#     config template, and /usr/local/bin/vm-bundle (vm/vm-bundle);
#   - per run: the bulkhead binary as /usr/local/bin/bulkhead, SCRIPT and FILES
#     (files or directories) in /test.
# /init mounts proc, sys, devtmpfs, cgroup2 at /sys/fs/cgroup (all controllers
# enabled in the root's cgroup.subtree_control), tmpfs /run and /tmp, loads the
# modules, then runs `sh /test/SCRIPT` in /test with BULKHEAD,
# CONTAINER_ROOTFS and TEST_DIR set, prints "VM-RESULT: PASS" or
# "VM-RESULT: FAIL rc=N" and powers off. The exit status follows the marker
# (no marker: 2; timeout: 124). Console log: build/vm/console.log.
#
# Environment: BULKHEAD (static binary to test; default the release static
# build), VM_TIMEOUT (seconds, default 300), VM_MEM (MiB, default 1024),
# VM_SMP (default 1), VM_MODULES (default "overlay veth bridge"),
# VM_APPEND (extra kernel command line), VM_QEMU_ARGS (extra qemu arguments).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
die() { echo "vm/run.sh: $*" >&2; exit 2; }

[ $# -ge 1 ] || die "usage: vm/run.sh SCRIPT [FILES...]"
script=$1; shift
[ -f "$script" ] || die "no such script: $script"
for f in "$@"; do [ -e "$f" ] || die "no such file: $f"; done

build=$repo/build/vm
kdir=$repo/build/kernel
VM_TIMEOUT=${VM_TIMEOUT:-300}
VM_MEM=${VM_MEM:-1024}
VM_SMP=${VM_SMP:-1}
VM_MODULES=${VM_MODULES:-overlay veth bridge}
BUSYBOX=${BUSYBOX:-/bin/busybox}

vmlinuz_src=$(ls "$kdir"/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
[ -n "$vmlinuz_src" ] || die "no kernel in $kdir: run 'make deps'"
kver=${vmlinuz_src##*/vmlinuz-}
moddir=$kdir/lib/modules/$kver
for c in qemu-system-x86_64 cpio gzip file; do
    command -v "$c" >/dev/null || die "$c not found: run 'make deps'"
done
file -L "$BUSYBOX" | grep -Eq 'statically linked|static-pie linked' \
    || die "$BUSYBOX is not static: run 'make deps' (busybox-static)"

if [ -z "${BULKHEAD:-}" ]; then
    BULKHEAD=${CARGO_TARGET_DIR:-$repo/target}/$("$repo/scripts/triple.sh")/release/bulkhead
fi
[ -x "$BULKHEAD" ] || die "bulkhead binary not found: $BULKHEAD (run 'make build' or set BULKHEAD)"
if ! file -L "$BULKHEAD" | grep -Eq 'statically linked|static-pie linked'; then
    echo "vm/run.sh: warning: $BULKHEAD is not statically linked; it will not run in the VM" >&2
fi

mkdir -p "$build"

# ---- cached base initramfs ----------------------------------------------------
key=$( { cat "$here/run.sh" "$here/init" "$here/vm-bundle" "$BUSYBOX" "$repo/scripts/mkbundle.sh";
         echo "$kver $VM_MODULES"; } | sha256sum | cut -c1-16)
base=$build/base-$key.cpio.gz

modinfo_depends() {
    case "$1" in
        *.xz) xz -dc "$1" ;; *.zst) zstd -qdc "$1" ;; *.gz) gzip -dc "$1" ;; *) cat "$1" ;;
    esac | tr '\0' '\n' | grep -a '^depends=' | head -n1 | cut -d= -f2
}
declare -A seen=()
mod_order=()
resolve_module() {
    local name=$1 f d
    [ -z "${seen[$name]:-}" ] || return 0
    seen[$name]=1
    f=$(find "$moddir/kernel" \( -name "$name.ko" -o -name "$name.ko.*" \
        -o -name "${name//_/-}.ko" -o -name "${name//_/-}.ko.*" \) -print -quit)
    if [ -z "$f" ]; then
        if grep -Eq "/(${name}|${name//_/-})\.ko" "$moddir/modules.builtin" 2>/dev/null; then
            return 0   # built into the kernel
        fi
        die "kernel module $name not found in $moddir"
    fi
    local deps
    deps=$(modinfo_depends "$f")
    for d in ${deps//,/ }; do resolve_module "$d"; done
    mod_order+=("$f")
}

build_base() {
    local stage=$build/base.tmp.$$
    rm -rf "$stage"
    mkdir -p "$stage"/{bin,dev,etc,proc,sys,run,tmp,mnt,root,test,usr/local/bin,containers}
    chmod 1777 "$stage/tmp"
    cp "$BUSYBOX" "$stage/bin/busybox"
    for a in $("$BUSYBOX" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$stage/bin/$a"
    done
    ln -s bin "$stage/sbin"
    ln -s ../bin "$stage/usr/bin"; ln -s ../bin "$stage/usr/sbin"
    mknod -m 600 "$stage/dev/console" c 5 1
    mknod -m 666 "$stage/dev/null" c 1 3
    echo 'root:x:0:0:root:/root:/bin/sh' > "$stage/etc/passwd"
    echo 'root:x:0:' > "$stage/etc/group"
    cp "$here/init" "$stage/init"; chmod 755 "$stage/init"
    cp "$here/vm-bundle" "$stage/usr/local/bin/vm-bundle"; chmod 755 "$stage/usr/local/bin/vm-bundle"

    # kernel modules, dependencies first, uncompressed
    local m f rel
    for m in $VM_MODULES; do resolve_module "$m"; done
    : > "$stage/etc/vm-modules"
    for f in "${mod_order[@]}"; do
        rel=${f#"$moddir"/}
        rel=${rel%.xz}; rel=${rel%.zst}; rel=${rel%.gz}
        mkdir -p "$stage/lib/modules/$kver/$(dirname "$rel")"
        case "$f" in
            *.xz) xz -dc "$f" ;; *.zst) zstd -qdc "$f" ;; *.gz) gzip -dc "$f" ;; *) cat "$f" ;;
        esac > "$stage/lib/modules/$kver/$rel"
        echo "/lib/modules/$kver/$rel" >> "$stage/etc/vm-modules"
    done

    # container rootfs + config template (runc's default spec)
    local spec_rt
    spec_rt=$(command -v runc || command -v crun || true)
    [ -n "$spec_rt" ] || die "runc/crun needed to make the config template: run 'make deps'"
    BUSYBOX=$BUSYBOX "$repo/scripts/mkbundle.sh" "$stage/containers/busybox" "$spec_rt" @ARGS@ >/dev/null
    python3 - "$stage/containers/busybox" <<'PY'
import json, os, sys
d = sys.argv[1]
with open(os.path.join(d, "config.json")) as f:
    cfg = json.load(f)
cfg["root"] = {"path": "/containers/busybox/rootfs", "readonly": True}
cfg["process"]["args"] = ["@ARGS@"]
with open(os.path.join(d, "config.json.in"), "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
os.remove(os.path.join(d, "config.json"))
PY
    (cd "$stage" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -6 > "$base.tmp.$$"
    rm -rf "$stage"
    rm -f "$build"/base-*.cpio.gz
    mv "$base.tmp.$$" "$base"
}

if [ ! -f "$base" ]; then
    echo "vm/run.sh: building base initramfs ($kver, modules: $VM_MODULES)" >&2
    build_base
fi
if ! cmp -s "$vmlinuz_src" "$build/vmlinuz"; then
    cp "$vmlinuz_src" "$build/vmlinuz"
fi

# ---- per-run part -------------------------------------------------------------
run=$build/run.$$
initrd=$build/initrd.$$.img
cleanup() { rm -rf "$run" "$initrd"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$run/test" "$run/usr/local/bin" "$run/etc"
cp "$BULKHEAD" "$run/usr/local/bin/bulkhead"
cp "$script" "$run/test/"
basename "$script" > "$run/etc/vm-test"
for f in "$@"; do cp -a "$f" "$run/test/"; done
{ cat "$base"
  (cd "$run" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1
} > "$initrd"

log=$build/console.log
echo "vm/run.sh: booting $kver for $(basename "$script") (timeout ${VM_TIMEOUT}s)" >&2
set +e
# shellcheck disable=SC2086
timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg -m "$VM_MEM" -smp "$VM_SMP" \
    -nographic -no-reboot -nic none \
    -kernel "$build/vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 quiet panic=-1 ${VM_APPEND:-}" ${VM_QEMU_ARGS:-} \
    </dev/null 2>&1 | tee "$log"
qrc=${PIPESTATUS[0]}
set -e

marker=$(tr -d '\r' < "$log" | grep -a '^VM-RESULT:' | tail -n1 || true)
case "$marker" in
    "VM-RESULT: PASS") exit 0 ;;
    "VM-RESULT: FAIL rc="*)
        rc=${marker#VM-RESULT: FAIL rc=}; rc=${rc%% *}
        [[ "$rc" =~ ^[0-9]+$ ]] && [ "$rc" -gt 0 ] && [ "$rc" -lt 256 ] || rc=1
        exit "$rc" ;;
esac
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    echo "VM-RESULT: TIMEOUT after ${VM_TIMEOUT}s" >&2
    exit 124
fi
echo "VM-RESULT: NONE (qemu exited $qrc without a result marker)" >&2
exit 2
