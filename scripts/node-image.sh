#!/usr/bin/env bash
# Build the production-node VM image (vm/node/run.sh boots it) into build/node/:
#   build/node/vmlinuz, build/node/initrd.img   the sid cloud kernel and its initramfs
#   build/node/root.img                         ext4 root filesystem (mke2fs -d, no loop mount)
#   build/node/stamp                            hash of the inputs; a rebuild happens only
#                                               when vm/node/packages or this script change
#   build/node/debs/                            downloaded .debs, reused by the next rebuild
# The root filesystem is Debian unstable (sid) made with mmdebstrap from the package list
# vm/node/packages: systemd as PID 1, containerd 2, podman 5, docker 28, runc, crun, criu.
# The mirror is the host's own (from /etc/apt/sources.list.d/*.sources or sources.list),
# verified with the host's debian-archive-keyring. Nothing is installed on the host.
#   scripts/node-image.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=$repo/build/node
pkgfile=vm/node/packages
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
die() { echo "node-image: $*" >&2; exit 1; }
log() { echo "node-image: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap --mode=root, device nodes in the image)"
for c in mmdebstrap mke2fs; do command -v "$c" >/dev/null || die "$c not found: run 'make node-deps'"; done
[ -f "$keyring" ] || die "no $keyring (debian-archive-keyring)"

# The image depends on the package list and the customize hook only.
key=$(cat "$pkgfile" vm/node/image-hook.sh | sha256sum | cut -c1-16)
if [ "${1:-}" != --force ] && [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$key" ] \
    && [ -f "$out/root.img" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ]; then
    log "image up to date ($key)"
    exit 0
fi

# The host's configured Debian mirror (the first URIs of a deb822 source, or a one-line source).
host_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f"
    done | head -n1 | grep . && return
    awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
        /etc/apt/sources.list 2>/dev/null | head -n1 | grep .
}
mirror=${NODE_MIRROR:-$(host_mirror)} || die "cannot find the host's Debian mirror"
pkgs=$(sed -e 's/#.*//' "$pkgfile" | tr -s ' \n' ',' | sed -e 's/^,//' -e 's/,$//')

start=$SECONDS
mkdir -p "$out/debs"
tmp=$out/rootfs.tmp
rm -rf "$tmp" "$out/root.img.tmp"
log "mmdebstrap sid ($(tr ',' '\n' <<<"$pkgs" | wc -l) packages)"
# The mirror may serve a frozen snapshot whose Release file has expired: validity is not checked
# (the signatures still are).
mmdebstrap --mode=root --variant=minbase --include="$pkgs" \
    --aptopt='APT::Install-Recommends "false"' \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --skip=download/empty \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
    --setup-hook="sync-in $out/debs /var/cache/apt/archives/" \
    --customize-hook="sync-out /var/cache/apt/archives $out/debs" \
    --customize-hook="$repo/vm/node/image-hook.sh \"\$1\"" \
    --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
    sid "$tmp" "deb [signed-by=$keyring] $mirror sid main"

# The kernel and initramfs go outside the image (qemu -kernel/-initrd).
vmlinuz=$(ls "$tmp"/boot/vmlinuz-* | head -n1)
initrd=$(ls "$tmp"/boot/initrd.img-* | head -n1)
cp "$vmlinuz" "$out/vmlinuz.tmp" && cp "$initrd" "$out/initrd.img.tmp"
basename "$vmlinuz" | sed 's/^vmlinuz-//' > "$out/kernel-version"

# ext4 from the directory: size = content + 3 GiB for images, containers and logs (sparse).
used_mb=$(du -sm "$tmp" | cut -f1)
size_mb=$((used_mb + used_mb / 4 + 3072))
mke2fs -q -t ext4 -L node-root -d "$tmp" "$out/root.img.tmp" "${size_mb}M"
rm -rf "$tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"; mv "$out/initrd.img.tmp" "$out/initrd.img"
mv "$out/root.img.tmp" "$out/root.img"
echo "$key" > "$out/stamp"
log "built in $((SECONDS - start))s: root.img ${size_mb} MiB (${used_mb} MiB used), kernel $(cat "$out/kernel-version")"
