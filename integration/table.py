#!/usr/bin/env python3
"""Markdown step table from run.sh outputs: table.py NAME=OUTPUT_FILE..."""
import re
import sys


def parse(path):
    res = {}
    for line in open(path, errors="replace"):
        m = re.match(r"^(ok|not ok|skip) ([^:]+): (.*?)(?:: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, client, step, reason = m.groups()
        if kind == "ok":
            # "ok" lines have no reason: the step name may contain ': '
            step = line.rstrip("\n").split(": ", 1)[1]
            reason = None
        res[(client, step)] = (kind, reason or "")
    return res


def cell(r):
    if r is None:
        return "-"
    kind, reason = r
    if kind == "ok":
        return "ok"
    reason = re.sub(r"/\S*/(bulkhead|runc)\b", r"\1", reason).replace("|", "/")
    if len(reason) > 110:
        reason = reason[:107] + "..."
    return "**%s**: %s" % ("FAIL" if kind == "not ok" else "skip", reason)


cols = [a.split("=", 1) for a in sys.argv[1:]]
res = [parse(f) for _, f in cols]
keys = []
for r in res:
    keys += [k for k in r if k not in keys]
print("| client | step | " + " | ".join(n for n, _ in cols) + " |")
print("| --- | --- |" + " --- |" * len(cols))
for k in keys:
    print("| %s | %s | %s |" % (k[0], k[1], " | ".join(cell(r.get(k)) for r in res)))
