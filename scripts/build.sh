#!/usr/bin/env bash
# Release build of the static bulkhead binary:
#   target/<triple>/release/bulkhead   (triple from scripts/triple.sh)
# musl when its rust target is installed, else gnu with +crt-static.
# Prints `file` output and size; fails if the binary is not statically linked.
set -euo pipefail
cd "$(dirname "$0")/.."
triple=$(scripts/triple.sh)
# Not position-independent (as Debian's runc): a static-pie binary relocates itself at every
# start (10k relocations: their table read and every .data.rel.ro page copied), which every
# runtime process (create, the init, start, delete, exec) paid in page faults and RSS.
flags="-C relocation-model=static"
# The functions of the start-up path first in .text (link/hot-functions.txt, made by
# scripts/hot-functions.sh): the kernel maps code 64 KiB around each page fault, so packed
# hot code keeps ~1.6 MB of the binary out of every runtime process's RSS. Needs rust-lld
# (shipped with rustup's toolchain, through its gcc-ld wrapper); without it the build links as
# before. BULKHEAD_HOT_FUNCTIONS=none turns it off.
hot=${BULKHEAD_HOT_FUNCTIONS:-$PWD/link/hot-functions.txt}
gcc_ld="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/gcc-ld"
strip_after=
if [ "$hot" != none ] && [ -f "$hot" ] && [ -x "$gcc_ld/ld.lld" ]; then
    flags="$flags -C link-arg=-fuse-ld=lld -C link-arg=-B$gcc_ld"
    flags="$flags -C link-arg=-Wl,--symbol-ordering-file=$hot -C link-arg=-Wl,--no-warn-symbol-ordering"
    # rustc's own strip (-C strip=symbols) made lld ignore the ordering: strip afterwards.
    if [ "${CARGO_PROFILE_RELEASE_STRIP:-true}" != false ]; then
        export CARGO_PROFILE_RELEASE_STRIP=false
        strip_after=1
    fi
elif [ "$hot" != none ]; then
    echo "build: no rust-lld at $gcc_ld or no $hot: linking without the hot-function order"
fi
if [ "$triple" = x86_64-unknown-linux-gnu ]; then
    echo "build: $triple target: linking statically with -C target-feature=+crt-static"
    export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="${CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS:-} -C target-feature=+crt-static $flags"
else
    export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="${CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS:-} $flags"
fi
bin=${CARGO_TARGET_DIR:-target}/$triple/release/bulkhead
# cargo sees the flags, not the list's contents: a changed list relinks.
stamp=$bin.hot-functions
if [ -n "$strip_after" ] && ! cmp -s "$hot" "$stamp"; then
    cargo clean --release --target "$triple" -p bulkhead 2>/dev/null || true
fi
cargo build --release --target "$triple"
[ -z "$strip_after" ] || cp "$hot" "$stamp"
if [ -n "$strip_after" ]; then
    strip_tool=$(command -v strip || echo "$gcc_ld/../rust-objcopy")
    # Into a new file: the cargo output is a hard link of target/.../deps/bulkhead-<hash>.
    "$strip_tool" --strip-all -o "$bin.stripped" "$bin" && mv "$bin.stripped" "$bin"
fi
info=$(file -L "$bin")
echo "$info"
size=$(stat -L -c %s "$bin")
echo "size: $size bytes ($(( (size + 1023) / 1024 )) KiB)"
if ! grep -Eq 'statically linked|static-pie linked' <<<"$info"; then
    echo "build: FAIL: $bin is not statically linked" >&2
    exit 1
fi
