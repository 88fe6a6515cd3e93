#!/usr/bin/env bash
# Benchmark of bulkhead-bundle (issue 8), not a timed test:
#   - first unpack of an image (3 gzip layers, ~80 MB of real files) vs `tar -xzf` of the same
#     layers (target: within 1.2x) and vs `umoci unpack`;
#   - a second bundle from the stored image (target: <= 50 ms).
# The disk of a VM is noisy: every timing starts after `sync`, and the best of RUNS counts;
# BENCH_DIR=/dev/shm/x measures CPU cost without the disk. KEEP=1 keeps the files.
# Usage: BUNDLE_BIN=path/to/bulkhead-bundle RUNS=5 scripts/bench-bundle.sh
# Needs root, gzip, tar; umoci optional. Works under build/bench-bundle (removed on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-bundle: must run as root" >&2; exit 1; }
BIN=${BUNDLE_BIN:-${CARGO_TARGET_DIR:-target}/release/bulkhead-bundle}
[ -x "$BIN" ] || { echo "bench-bundle: $BIN not found (cargo build --release --bin bulkhead-bundle)" >&2; exit 1; }
BIN=$(realpath "$BIN")
RUNS=${RUNS:-5}
dir=${BENCH_DIR:-$PWD/build/bench-bundle}
cleanup() {
    for b in "$dir"/b-*; do [ -e "$b" ] && "$BIN" --store "$dir/store" delete "$b" >/dev/null 2>&1 || true; done
    for m in $(grep -o "$dir[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r); do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$dir"
}
[ -n "${KEEP:-}" ] || trap cleanup EXIT
cleanup
mkdir -p "$dir/img/blobs/sha256" "$dir/src"
dir=$(realpath "$dir")

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

# Layers: busybox + python's stdlib, perl's, and a small change layer with a whiteout.
src=$dir/src
mkdir -p "$src/1/bin" "$src/1/usr/lib" "$src/2/usr/share" "$src/3/usr/lib/python3.11"
cp /usr/bin/busybox "$src/1/bin/" && ln -s busybox "$src/1/bin/sh"
cp -a /usr/lib/python3.11 "$src/1/usr/lib/" 2>/dev/null || cp -a /usr/lib/python3* "$src/1/usr/lib/"
cp -a /usr/share/perl "$src/2/usr/share/" 2>/dev/null || mkdir -p "$src/2/usr/share/perl"
: > "$src/3/usr/lib/python3.11/.wh.os.py"
echo changed > "$src/3/usr/lib/python3.11/new.py"
layers=() diffs=()
for i in 1 2 3; do
    tar -C "$src/$i" -cf "$dir/l$i.tar" .
    diffs+=("sha256:$(sha256sum "$dir/l$i.tar" | cut -d' ' -f1)")
    gzip -6 -c "$dir/l$i.tar" > "$dir/l$i.tar.gz"
    d=$(sha256sum "$dir/l$i.tar.gz" | cut -d' ' -f1)
    cp "$dir/l$i.tar.gz" "$dir/img/blobs/sha256/$d"
    layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(stat -c %s "$dir/l$i.tar.gz")}")
done
blob() { # FILE -> prints "digest size", moves FILE into blobs
    local d s; d=$(sha256sum "$1" | cut -d' ' -f1); s=$(stat -c %s "$1"); mv "$1" "$dir/img/blobs/sha256/$d"; echo "$d $s"
}
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["%s","%s","%s"]}}' \
    "${diffs[@]}" > "$dir/c.json"
read -r cd cs < <(blob "$dir/c.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$cd" "$cs" "$(IFS=,; echo "${layers[*]}")" > "$dir/m.json"
read -r md ms_ < <(blob "$dir/m.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
    "$md" "$ms_" > "$dir/img/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$dir/img/oci-layout"
echo "image: $(du -sh "$dir/img" | cut -f1) compressed, $(du -sh "$src" | cut -f1) unpacked, $(find "$src" | wc -l) files"
sync

best_tar=999999 best_first=999999 best_second=999999 best_umoci=999999
for r in $(seq "$RUNS"); do
    rm -rf "$dir/x"; mkdir "$dir/x"
    sync; t0=$(now); for i in 1 2 3; do tar -C "$dir/x" --numeric-owner -xzpf "$dir/l$i.tar.gz"; done; t1=$(now)
    t=$(ms "$t0" "$t1"); (( t < best_tar )) && best_tar=$t
    rm -rf "$dir/x"

    rm -rf "$dir/store"; sync
    t0=$(now); "$BIN" --store "$dir/store" create --image "$dir/img" --network none "$dir/b-first" >/dev/null; t1=$(now)
    t=$(ms "$t0" "$t1"); (( t < best_first )) && best_first=$t
    sync; t0=$(now); "$BIN" --store "$dir/store" create --image "$dir/img" --network none "$dir/b-second" >/dev/null; t1=$(now)
    t=$(( (t1 - t0) / 1000 )); (( t < best_second )) && best_second=$t
    "$BIN" --store "$dir/store" delete "$dir/b-first" "$dir/b-second"

    if command -v umoci >/dev/null; then
        rm -rf "$dir/u"
        sync; t0=$(now); umoci unpack --image "$dir/img:latest" "$dir/u" >/dev/null 2>&1; t1=$(now)
        t=$(ms "$t0" "$t1"); (( t < best_umoci )) && best_umoci=$t
        rm -rf "$dir/u"
    fi
done
echo "best of $RUNS runs:"
echo "  tar -xzf (3 layers):            ${best_tar} ms"
echo "  bulkhead-bundle first create:   ${best_first} ms  ($(awk "BEGIN{printf \"%.2f\", $best_first/$best_tar}") x tar; target <= 1.2)"
echo "  bulkhead-bundle second create:  $(awk "BEGIN{printf \"%.1f\", $best_second/1000}") ms  (target <= 50)"
if command -v umoci >/dev/null; then
    echo "  umoci unpack:                   ${best_umoci} ms  ($(awk "BEGIN{printf \"%.2f\", $best_umoci/$best_tar}") x tar)"
fi
