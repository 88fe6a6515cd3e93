#!/usr/bin/env bash
# Run each vm/tests/*.sh in the cgroup v2 VM (vm/run.sh). Files in vm/tests/lib/
# are passed along to every test (as /test/lib/ in the VM).
# Prints one line per test and a closing 'vm-tests: N passed, N failed'.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
shopt -s nullglob
extra=()
[ -d vm/tests/lib ] && extra+=(vm/tests/lib)
pass=0; failed=0; failures=()
for t in vm/tests/*.sh; do
    name=$(basename "$t" .sh)
    log=build/vm/logs/$name.log
    mkdir -p build/vm/logs
    start=$(date +%s)
    if vm/run.sh "$t" "${extra[@]}" >"$log" 2>&1; then
        pass=$((pass + 1)); res=ok
    else
        failed=$((failed + 1)); res=FAILED; failures+=("$name")
        echo "---- $t console output ($log) ----"
        tail -n 60 "$log"
        echo "----"
    fi
    echo "vm test $name ... $res ($(( $(date +%s) - start ))s)"
done
[ "${#failures[@]}" -gt 0 ] && echo "vm-tests failed: ${failures[*]}"
echo "vm-tests: $pass passed, $failed failed"
[ "$failed" = 0 ]
