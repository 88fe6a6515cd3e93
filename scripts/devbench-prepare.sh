#!/usr/bin/env bash
# Prepare a self-contained folder for the 16-core device benchmark (issue 16):
#   scripts/devbench-prepare.sh DIR     (e.g. the checkout's .devbench, which .gitignore lists:
#   name it in the device run's `carry`)
# DIR gets the static bulkhead (make build first), crun and runc with the libraries `ldd` lists
# for them except libc and the loader (the device has its own glibc; LD_LIBRARY_PATH=DIR/lib),
# static busybox, GNU time and unshare, bench.py (+ bench_stats.py, bench_seccomp.py), containers-common's seccomp.json, a config template from `runc spec` running
# /bin/true, and run.sh (scripts/devbench-run.sh). On the device: `bash DIR/run.sh $OUT`.
set -euo pipefail
cd "$(dirname "$0")/.."
d=${1:?usage: $0 DIR}
bin=${BULKHEAD:-${CARGO_TARGET_DIR:-target}/$(scripts/triple.sh)/release/bulkhead}
mkdir -p "$d/lib" "$d/bin"
cp "$bin" "$d/bulkhead"
cp "$(command -v crun)" "$(command -v runc || echo /usr/sbin/runc)" /bin/busybox "$d/"
for l in $(ldd "$d/crun" "$d/runc" | awk '/=>/ {print $3}' | sort -u); do
    case $(basename "$l") in libc.so*|ld-linux*) ;; *) cp -L "$l" "$d/lib/" ;; esac
done
cp /usr/bin/time "$(command -v unshare)" "$d/bin/"
cp scripts/bench.py scripts/bench_stats.py scripts/bench_seccomp.py "$d/"
cp scripts/devbench-run.sh "$d/run.sh"
# The engines' default seccomp profile, for bench.py's run-sc and exec-sc (podman installs it).
rm -f "$d/seccomp.json"
[ -f /usr/share/containers/seccomp.json ] && cp /usr/share/containers/seccomp.json "$d/"
(cd "$d" && rm -f config.json && ./runc spec && python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open("config.template.json", "w"), indent=1)
PY
rm -f config.json)
du -sh "$d"
