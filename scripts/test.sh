#!/usr/bin/env bash
# make test: the static release build, VM tests (pure cgroup v2), the OCI conformance
# suite and the client integration flows against that binary, then cargo test (unit tests and tests/), so the output ends
# with cargo's summary. Non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
fail=0
NODE_CI_DEFAULT="placement cgroupv2 cri systemd"
shopt -s nullglob
vm_tests=(vm/tests/*.sh)
if scripts/build.sh; then
    if [ "${#vm_tests[@]}" -gt 0 ]; then
        scripts/vm-tests.sh || fail=1
    else
        echo "test: no vm/tests/*.sh; skipping VM tests"
    fi
    echo "test: conformance (OCI runtime spec) against the static binary"
    target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
    BULKHEAD="$target_dir/$(scripts/triple.sh)/release/bulkhead" conformance/run.sh || fail=1
    echo "test: reliability (bounded: kills, races, fuzzing) against the static binary"
    RUNTIME="$target_dir/$(scripts/triple.sh)/release/bulkhead" TRIALS=8 LIFECYCLES=20 EXECS=10 MUTANTS=200 SEED=${RELIABILITY_SEED:-15} \
        scripts/reliability.py || fail=1
    echo "test: integration (containerd ctr + CRI, podman, podman rootless, dockerd) against the static binary"
    RUNTIME="$target_dir/$(scripts/triple.sh)/release/bulkhead" integration/run.sh all || fail=1
    # The production node (vm/node/: systemd, pure cgroup v2, containerd 2, podman 5, docker
    # 28). Its image comes from Debian's sid mirror (built once, cached in build/node). The
    # whole flow set takes longer than this run's budget on 2 cores: NODE_CI_CLIENTS picks the
    # flows (default: one of each kind the build host cannot show, and the systemd cgroup
    # driver), NODE_CI=0 skips the node.
    if [ "${NODE_CI:-1}" != 0 ]; then
        echo "test: production node VM (flows: ${NODE_CI_CLIENTS:-$NODE_CI_DEFAULT})"
        { scripts/install-deps.sh --node &&
            BULKHEAD="$target_dir/$(scripts/triple.sh)/release/bulkhead" NODE_CLIENTS="${NODE_CI_CLIENTS:-$NODE_CI_DEFAULT}" \
                scripts/node-test.sh; } || fail=1
    fi
else
    echo "test: FAIL: static release build failed; VM tests and conformance not run" >&2
    fail=1
fi
echo "test: cargo test"
log=$(mktemp)
cargo test -- --test-threads=2 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail=1
# One closing line for the whole run (CI reads the last summary line).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "cargo: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$fail"
