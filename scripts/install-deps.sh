#!/usr/bin/env bash
# Idempotent install of everything bulkhead's build, demo, bench and VM tests need.
# Fast on a warm machine: apt is only touched (update + install) when something is missing.
#   - Debian packages (see APT_PKGS)
#   - the kernel for vm/ (linux-image-*-cloud-amd64), fetched with apt-get download
#     into build/ and unpacked with dpkg-deb -x into build/kernel (never installed)
#   - the rust musl target (falls back to gnu + crt-static, see scripts/triple.sh)
# With --demo: only what building and running a first container needs (make demo).
# With --node: only what the production-node VM adds (make node-test: mmdebstrap, e2fsprogs
# for mke2fs -d); the node's own packages (Debian sid) live only in its image, never here.
set -euo pipefail
cd "$(dirname "$0")/.."
demo_only=0 node_only=0
[ "${1:-}" = --demo ] && demo_only=1
[ "${1:-}" = --node ] && node_only=1

# gcc/libc6-dev: rust's linker and crt-static fallback; busybox-static: demo/bench/VM
# rootfs; runc/crun: reference runtimes for bench; time: /usr/bin/time; file: static
# check; cpio/qemu-system-x86/xz-utils/zstd: VM initramfs, boot and module unpacking;
# uidmap: newuidmap/newgidmap for the rootless user-namespace tests; iproute2, nftables,
# util-linux: bulkhead-bundle network tests (ip netns, nft list, nsenter, script);
# containerd/podman/docker.io/umoci/skopeo/python3-grpc*/curl: integration/ (real clients),
# with the network backends and init binaries podman and docker recommend (the flows use them).
APT_PKGS=(gcc libc6-dev busybox-static runc crun time file python3 xz-utils zstd cpio qemu-system-x86 uidmap iproute2 nftables util-linux
          containerd podman docker.io umoci skopeo python3-grpcio python3-grpc-tools curl
          containernetworking-plugins netavark aardvark-dns iptables slirp4netns tini catatonit)
[ "$demo_only" = 1 ] && APT_PKGS=(gcc libc6-dev busybox-static python3 file)
[ "$node_only" = 1 ] && APT_PKGS=(mmdebstrap e2fsprogs qemu-system-x86 debian-archive-keyring)
KERNEL_DIR=build/kernel
export DEBIAN_FRONTEND=noninteractive

log() { echo "deps: $*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

updated=0
apt_update() {
    if [ "$updated" = 0 ]; then
        log "apt-get update"
        as_root apt-get update -qq
        updated=1
    fi
}

# 1. Debian packages
missing=()
for p in "${APT_PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt_update
    log "installing ${missing[*]}"
    # Installing containerd and docker.io would start their system services; the tests run
    # their own instances and must not touch the host's, so service starts are refused
    # (policy-rc.d exit 101) for the duration of the install.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod 755 "$policy" && made_policy=1
    fi
    rc=0
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
    if [ "$made_policy" = 1 ]; then as_root rm -f "$policy"; fi
    [ "$rc" = 0 ] || exit "$rc"
else
    log "apt packages present"
fi

[ "$node_only" = 1 ] && exit 0

# 2. Kernel for the cgroup v2 test VM: the current linux-image-*-cloud-amd64
if [ "$demo_only" = 1 ]; then
    :
elif ls "$KERNEL_DIR"/boot/vmlinuz-* >/dev/null 2>&1; then
    log "kernel present: $(basename "$(ls -d "$KERNEL_DIR"/boot/vmlinuz-* | head -n1)")"
else
    pick_kernel() {
        apt-cache depends linux-image-cloud-amd64 2>/dev/null \
            | awk '/Depends: linux-image-[0-9].*-cloud-amd64/ {print $2; exit}'
    }
    kpkg=$(pick_kernel)
    if [ -z "$kpkg" ]; then apt_update; kpkg=$(pick_kernel); fi
    if [ -z "$kpkg" ]; then echo "deps: cannot find a linux-image-*-cloud-amd64 package" >&2; exit 1; fi
    mkdir -p build
    rm -f build/"$kpkg"_*.deb
    log "downloading $kpkg"
    # apt-get download writes to the current directory; as root it warns about the
    # unsandboxed download, which is harmless.
    (cd build && apt-get download -qq "$kpkg" 2>&1 | grep -v 'unsandboxed' || true)
    deb=$(ls build/"$kpkg"_*.deb 2>/dev/null | head -n1)
    if [ -z "$deb" ]; then echo "deps: apt-get download $kpkg failed" >&2; exit 1; fi
    rm -rf "$KERNEL_DIR.tmp"
    dpkg-deb -x "$deb" "$KERNEL_DIR.tmp"
    rm -rf "$KERNEL_DIR"
    mv "$KERNEL_DIR.tmp" "$KERNEL_DIR"
    log "kernel unpacked into $KERNEL_DIR"
fi

# 3. Rust toolchain and static target
if ! command -v cargo >/dev/null 2>&1; then
    echo "deps: cargo not found: install a Rust toolchain with rustup (see README.md)" >&2
    exit 1
fi
if command -v rustup >/dev/null 2>&1; then
    if rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
        log "rust target x86_64-unknown-linux-musl present"
    elif rustup target add x86_64-unknown-linux-musl; then
        log "rust target x86_64-unknown-linux-musl added"
    else
        log "NOTE: musl target unavailable; builds fall back to x86_64-unknown-linux-gnu + crt-static"
    fi
else
    log "NOTE: rustup not found; builds use the gnu target + crt-static"
fi
