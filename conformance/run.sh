#!/usr/bin/env bash
# Build the conformance runner + static checker and run the suite.
#   conformance/run.sh                      # against bulkhead (cargo build --release first)
#   BULKHEAD=target/release/bulkhead conformance/run.sh
#   RUNTIME=/usr/sbin/runc conformance/run.sh
#   RUNTIME=conformance/crun-wrapper.sh conformance/run.sh   (crun on a hybrid host)
#   conformance/run.sh <filter>             # only cases whose name contains <filter>
# Exits non-zero if any case failed (documented deviations of the named runtime excepted).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}

# The checker runs inside containers: build it static. musl when installed,
# else gnu with +crt-static (the runner is built the same way, harmlessly).
if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
    triple=x86_64-unknown-linux-musl
else
    triple=x86_64-unknown-linux-gnu
    export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="${CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS:-} -C target-feature=+crt-static"
fi
cargo build --quiet --release --manifest-path "$here/Cargo.toml" --target "$triple"
bin=$CARGO_TARGET_DIR/$triple/release

# Default runtime: bulkhead. $BULKHEAD if given (used as is), else the
# `cargo build --release` of the repository (a no-op when up to date).
if [ -z "${RUNTIME:-}" ]; then
    if [ -n "${BULKHEAD:-}" ]; then
        RUNTIME=$BULKHEAD
    else
        cargo build --quiet --release --manifest-path "$repo/Cargo.toml"
        RUNTIME=$CARGO_TARGET_DIR/release/bulkhead
    fi
fi
if [ ! -x "$RUNTIME" ] && ! command -v "$RUNTIME" >/dev/null; then
    echo "conformance: runtime $RUNTIME not found" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ]; then
    echo "conformance: must run as root" >&2
    exit 2
fi
CONF_CHECKER=$bin/conf-checker exec "$bin/conformance" "$RUNTIME" "$@"
