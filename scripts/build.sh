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
nopie="-C relocation-model=static"
if [ "$triple" = x86_64-unknown-linux-gnu ]; then
    echo "build: $triple target: linking statically with -C target-feature=+crt-static"
    export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="${CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS:-} -C target-feature=+crt-static $nopie"
else
    export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="${CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS:-} $nopie"
fi
cargo build --release --target "$triple"
bin=${CARGO_TARGET_DIR:-target}/$triple/release/bulkhead
info=$(file -L "$bin")
echo "$info"
size=$(stat -L -c %s "$bin")
echo "size: $size bytes ($(( (size + 1023) / 1024 )) KiB)"
if ! grep -Eq 'statically linked|static-pie linked' <<<"$info"; then
    echo "build: FAIL: $bin is not statically linked" >&2
    exit 1
fi
