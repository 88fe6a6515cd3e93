#!/usr/bin/env bash
# The README's step table of the production node: one row per step of `make node-test`, a
# column per runtime, read from the consoles the runs left (build/node/console-RUNTIME.log).
#   scripts/node-table.sh [RUNTIME | RUNTIME=LOG[:LOG...] ...]    (default: bulkhead runc crun)
# RUNTIME=LOG... reads the column from those consoles instead (runs of different flows of one
# runtime; a step seen in several takes its last result). A cell is ok, FAIL, skip, or - (the
# runtime's run did not reach the step or never ran).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
[ $# -gt 0 ] || set -- bulkhead runc crun
names=()
for arg in "$@"; do names+=("${arg%%=*}"); done   # (the loop below runs in a subshell)
for arg in "$@"; do
    rt=${arg%%=*}
    if [ "$rt" = "$arg" ]; then logs=build/node/console-$rt.log; else logs=${arg#*=}; fi
    IFS=: read -r -a files <<<"$logs"
    for f in "${files[@]}"; do
        [ -f "$f" ] || continue
        tr -d '\r' <"$f" | grep -aE '^(ok|not ok|skip) [a-z0-9_-]+: ' | sed "s/^/$rt\t/"
    done
done | awk -F'\t' -v rts="${names[*]}" '
    BEGIN { n = split(rts, rt, " ") }
    {
        line = $2; res = "ok"
        if (line ~ /^not ok /) { res = "FAIL"; sub(/^not ok /, "", line) }
        else if (line ~ /^skip /) { res = "skip"; sub(/^skip /, "", line) }
        else sub(/^ok /, "", line)
        flow = line; sub(/: .*/, "", flow)
        step = substr(line, length(flow) + 3)
        if (res != "ok") sub(/: .*$/, "", step)   # `not ok STEP: REASON`, `skip STEP: REASON`
        if (flow == "images" || flow == "all") next
        key = flow SUBSEP step
        if (!(key in seen)) { seen[key] = 1; order[++m] = key }
        cell[key, $1] = res
    }
    END {
        printf "| flow | step |"; for (i = 1; i <= n; i++) printf " %s |", rt[i]; printf "\n"
        printf "|---|---|"; for (i = 1; i <= n; i++) printf "---|"; printf "\n"
        for (j = 1; j <= m; j++) {
            split(order[j], p, SUBSEP); gsub(/\|/, "\\|", p[2])
            printf "| %s | %s |", p[1], p[2]
            for (i = 1; i <= n; i++) { c = cell[order[j], rt[i]]; printf " %s |", c == "" ? "-" : c }
            printf "\n"
        }
    }'
