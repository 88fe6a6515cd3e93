#!/bin/sh
# Print the target triple bulkhead's static binary is built for: $BULKHEAD_TRIPLE
# if set, else musl when its rust target is installed, else gnu (built with
# +crt-static by scripts/build.sh).
if [ -n "${BULKHEAD_TRIPLE:-}" ]; then
    echo "$BULKHEAD_TRIPLE"
elif command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
    echo x86_64-unknown-linux-musl
else
    echo x86_64-unknown-linux-gnu
fi
