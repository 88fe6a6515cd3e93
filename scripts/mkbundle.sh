#!/usr/bin/env bash
# Make an OCI bundle with a busybox rootfs.
#   scripts/mkbundle.sh DIR RUNTIME [ARG...]
# DIR/rootfs gets /bin/busybox (must be static: Debian's busybox-static) and a
# symlink in /bin for every applet from `busybox --list`. DIR/config.json comes
# from `RUNTIME spec`, then process.terminal is set to false and, when ARGs are
# given, process.args to them.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 DIR RUNTIME [ARG...]" >&2
    exit 2
fi
dir=$1; runtime=$2; shift 2
BUSYBOX=${BUSYBOX:-/bin/busybox}

# (Without `file`, as on the node VM, the check is left out.)
if command -v file >/dev/null && ! file -L "$BUSYBOX" | grep -Eq 'statically linked|static-pie linked'; then
    echo "mkbundle: $BUSYBOX is not a static binary (install busybox-static: make deps)" >&2
    exit 1
fi
rt=$(command -v "$runtime" || true)
if [ -z "$rt" ]; then
    echo "mkbundle: runtime '$runtime' not found (for bulkhead: make build)" >&2
    exit 1
fi
rt=$(realpath "$rt")

rm -rf "$dir"
mkdir -p "$dir/rootfs"
dir=$(realpath "$dir")
r=$dir/rootfs
mkdir -p "$r"/{bin,dev,etc,proc,sys,tmp,run,root}
chmod 1777 "$r/tmp"
cp "$BUSYBOX" "$r/bin/busybox"
for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
done
ln -s bin "$r/sbin"
mkdir -p "$r/usr"; ln -s ../bin "$r/usr/bin"; ln -s ../bin "$r/usr/sbin"
echo 'root:x:0:0:root:/root:/bin/sh' > "$r/etc/passwd"
echo 'root:x:0:' > "$r/etc/group"

if ! (cd "$dir" && "$rt" spec); then
    echo "mkbundle: '$rt spec' failed" >&2
    exit 1
fi
python3 - "$dir/config.json" "$@" <<'PY'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
with open(path) as f:
    cfg = json.load(f)
cfg["process"]["terminal"] = False
if args:
    cfg["process"]["args"] = args
with open(path, "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
PY
echo "mkbundle: bundle ready in $dir (config from $rt spec)"
